//! Where a conversation log's lines go: an `on_error` log stays in memory
//! (its first [`ON_ERROR_LIMIT`] bytes) until it is known to be wanted; an
//! `all` log goes to its file in pieces, so echoing a large message costs
//! no more memory than a small one. Lines are written with plain blocking
//! writes: they only happen while diagnostics are on, and each is at most
//! one piece.

use chrono::Local;
use std::fs::File;
use std::io::{self, Write};
use std::path::PathBuf;

/// How much of an `on_error` log is kept.
pub(super) const ON_ERROR_LIMIT: usize = 256 * 1024;
/// Size of the pieces an `all` log is written in.
const PIECE: usize = 64 * 1024;

/// One log's lines on their way to `path`.
pub(super) struct Output {
    path: PathBuf,
    /// `on_error`: lines wait in memory, up to [`ON_ERROR_LIMIT`].
    bounded: bool,
    buf: Vec<u8>,
    truncated: bool,
    file: Option<File>,
    /// A write failed (already reported): the rest is dropped.
    broken: bool,
}

impl Output {
    pub(super) fn new(path: PathBuf, bounded: bool) -> Output {
        Output { path, bounded, buf: Vec::new(), truncated: false, file: None, broken: false }
    }

    /// Add a timestamped line `tag text`.
    pub(super) fn line(&mut self, tag: &str, text: &[u8]) {
        if self.truncated {
            return;
        }
        if self.bounded && self.buf.len() >= ON_ERROR_LIMIT {
            self.truncated = true;
            self.buf.extend_from_slice(b"... truncated\n");
            return;
        }
        self.append(tag, text);
        if !self.bounded && self.buf.len() >= PIECE {
            self.write_buffer();
        }
    }

    /// Write out everything recorded, ending with the line `-- last`,
    /// which the limit does not apply to.
    pub(super) fn write(&mut self, last: Option<&str>) {
        if let Some(last) = last {
            self.append("--", last.as_bytes());
        }
        self.write_buffer();
    }

    fn append(&mut self, tag: &str, text: &[u8]) {
        let _ = write!(self.buf, "{} {tag} ", Local::now().format("%Y-%m-%d %H:%M:%S%.3f"));
        self.buf.extend_from_slice(text);
        self.buf.push(b'\n');
    }

    fn write_buffer(&mut self) {
        if !self.broken
            && let Err(e) = self.append_to_file()
        {
            tracing::warn!(file = %self.path.display(), "cannot write the SMTP conversation log: {e}");
            self.broken = true;
        }
        self.buf.clear();
    }

    fn append_to_file(&mut self) -> io::Result<()> {
        if self.file.is_none() {
            if let Some(dir) = self.path.parent() {
                std::fs::create_dir_all(dir)?;
            }
            self.file = Some(File::create(&self.path)?);
        }
        match &mut self.file {
            Some(file) => file.write_all(&self.buf),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read_lines(path: &std::path::Path) -> Vec<String> {
        std::fs::read_to_string(path).unwrap().lines().map(str::to_string).collect()
    }

    #[test]
    fn lines_are_timestamped_and_tagged() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/x.log");
        let mut out = Output::new(path.clone(), true);
        out.line("C:", b"EHLO client");
        assert!(!path.exists(), "a bounded log waits in memory");
        out.write(Some("errors seen: smtp_errors"));
        let lines = read_lines(&path);
        assert_eq!(lines.len(), 2);
        let (stamp, rest) = lines[0].split_at(23);
        assert!(chrono::NaiveDateTime::parse_from_str(stamp, "%Y-%m-%d %H:%M:%S%.3f").is_ok(), "{stamp}");
        assert_eq!(rest, " C: EHLO client");
        assert!(lines[1].ends_with(" -- errors seen: smtp_errors"));
    }

    #[test]
    fn a_bounded_log_is_truncated_and_an_unbounded_one_written_in_pieces() {
        let dir = tempfile::tempdir().unwrap();
        let line = vec![b'x'; 1000];
        let bounded = dir.path().join("bounded.log");
        let mut out = Output::new(bounded.clone(), true);
        for _ in 0..1000 {
            out.line("C:", &line);
        }
        out.write(Some("end"));
        let lines = read_lines(&bounded);
        let kept = lines.iter().filter(|l| l.contains(" C: xxx")).count();
        assert!((ON_ERROR_LIMIT / 1030..=ON_ERROR_LIMIT / 1020 + 1).contains(&kept), "{kept} lines kept");
        assert_eq!(lines[kept], "... truncated");
        assert!(lines[kept + 1].ends_with(" -- end"));
        assert_eq!(lines.len(), kept + 2);

        let streamed = dir.path().join("all.log");
        let mut out = Output::new(streamed.clone(), false);
        for _ in 0..1000 {
            out.line("C:", &line);
        }
        let written = std::fs::metadata(&streamed).unwrap().len() as usize;
        assert!(written > 1000 * line.len() - PIECE - 2 * line.len(), "{written} bytes written before the end");
        out.write(None);
        assert_eq!(read_lines(&streamed).len(), 1000);
    }

    #[test]
    fn a_log_that_cannot_be_written_is_dropped() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("file"), b"").unwrap();
        let mut out = Output::new(dir.path().join("file/x.log"), false);
        out.line("S:", b"220 hi");
        out.write(None);
        assert!(out.broken && out.buf.is_empty());
    }
}
