//! The Detail report as CSV (RFC 4180: CRLF line ends, fields with a
//! comma, quote or line break quoted): a header row of
//! [`Record::COLUMNS`], then one row per event. Handed out as text (an HTTP
//! download) or as `MXGUARDyyyymmddhhmm.csv` in the log directory
//! (SPEC §10).

use super::cells;
use crate::events::Record;
use chrono::NaiveDateTime;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

/// The CSV of `records`, for an HTTP response.
pub fn csv_text(records: &[Record]) -> String {
    let bytes = write_rows(records, Vec::new()).unwrap_or_default();
    // Every cell comes from a `String`, so the bytes are UTF-8.
    String::from_utf8_lossy(&bytes).into_owned()
}

/// Write the CSV of `records` to `MXGUARDyyyymmddhhmm.csv` (named after
/// `now_local`, the administrator's clock) in `log_dir` and return its
/// path. The file appears complete or not at all; an export in the same
/// minute replaces it.
pub fn write_csv(records: &[Record], log_dir: &Path, now_local: NaiveDateTime) -> io::Result<PathBuf> {
    std::fs::create_dir_all(log_dir)?;
    let name = format!("MXGUARD{}.csv", now_local.format("%Y%m%d%H%M"));
    let path = log_dir.join(&name);
    let tmp = log_dir.join(format!(".{name}.tmp"));
    let file = write_rows(records, BufWriter::new(std::fs::File::create(&tmp)?))?;
    file.into_inner().map_err(io::IntoInnerError::into_error)?;
    std::fs::rename(&tmp, &path)?;
    Ok(path)
}

/// The header and the rows, written to `out`, which is handed back flushed.
fn write_rows<W: Write>(records: &[Record], out: W) -> io::Result<W> {
    let mut w = csv::WriterBuilder::new().terminator(csv::Terminator::CRLF).from_writer(out);
    w.write_record(Record::COLUMNS)?;
    for r in records {
        w.write_record(cells(r).iter().map(|c| c.as_bytes()))?;
    }
    w.into_inner().map_err(|e| e.into_error())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::Category;

    fn tricky() -> Vec<Record> {
        let base = Record { time: 1_767_225_600_000, category: Some(Category::Message), ..Record::default() };
        vec![
            Record {
                action: "Accepted".into(),
                subject: "a, b and \"c\"\r\nsecond line".into(),
                bytes: 7,
                ..base.clone()
            },
            Record { action: "Completed".into(), recipients: "x@y.test,z@y.test".into(), ..base.clone() },
            Record { action: "Dropped".into(), reason: "plain".into(), category: None, ..base },
        ]
    }

    #[test]
    fn the_text_parses_back_with_header_rows_and_quoting() {
        let records = tricky();
        let text = csv_text(&records);
        assert!(text.starts_with("time,category,action,smtp_id,") && text.contains("\r\n"), "{text}");
        let mut reader = csv::Reader::from_reader(text.as_bytes());
        assert_eq!(reader.headers().unwrap().iter().collect::<Vec<_>>(), Record::COLUMNS);
        let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
        assert_eq!(rows.len(), records.len());
        let subject = Record::COLUMNS.iter().position(|c| *c == "subject").unwrap();
        assert_eq!(&rows[0][subject], "a, b and \"c\"\r\nsecond line");
        assert_eq!((&rows[0][0], &rows[0][1], &rows[0][14]), ("2026-01-01T00:00:00.000Z", "message", "7"));
        assert_eq!(&rows[1][7], "x@y.test,z@y.test");
        assert_eq!((&rows[2][1], &rows[2][13]), ("", "plain"));
    }

    #[test]
    fn the_file_is_named_after_the_local_minute_and_holds_the_same_text() {
        let dir = tempfile::tempdir().unwrap();
        let logs = dir.path().join("logs");
        let now = chrono::NaiveDate::from_ymd_opt(2026, 2, 3).unwrap().and_hms_opt(4, 5, 59).unwrap();
        let path = write_csv(&tricky(), &logs, now).unwrap();
        assert_eq!(path, logs.join("MXGUARD202602030405.csv"));
        assert_eq!(std::fs::read_to_string(&path).unwrap(), csv_text(&tricky()));
        assert_eq!(std::fs::read_dir(&logs).unwrap().count(), 1, "no temporary file is left");
        let empty = write_csv(&[], &logs, now).unwrap();
        assert_eq!(csv::Reader::from_path(empty).unwrap().records().count(), 0);
    }
}
