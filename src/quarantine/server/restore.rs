//! A sample handed out (restore, submission) as a zip encrypted with the
//! password `infected`, the malware researchers' convention: no scanner on
//! the way and no double-click sets it off, and every unzip tool opens it.
//! Traditional PKWARE encryption (ZipCrypto) is used for that reason, not
//! for secrecy.

use super::error::ApiError;
use super::index::Change;
use super::service::{Quarantine, blocking};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use std::io::{Cursor, Write};
use std::sync::Arc;
use zip::unstable::write::FileOptionsExt;
use zip::write::SimpleFileOptions;

/// The password of every archive handed out.
pub const PASSWORD: &str = "infected";

/// A zip holding `bytes` as the file `name` (reduced to a safe base name),
/// encrypted with [`PASSWORD`].
pub fn encrypted_zip(name: &str, bytes: &[u8]) -> Result<Vec<u8>, String> {
    let options = SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated)
        .with_deprecated_encryption(PASSWORD.as_bytes())
        .map_err(|e| e.to_string())?;
    let mut zip = zip::ZipWriter::new(Cursor::new(Vec::new()));
    zip.start_file(entry_name(name), options).map_err(|e| e.to_string())?;
    zip.write_all(bytes).map_err(|e| e.to_string())?;
    Ok(zip.finish().map_err(|e| e.to_string())?.into_inner())
}

/// Restore item `id`: the download of its original bytes in an encrypted
/// zip named after the file, for the API and the item page alike. The
/// restore is kept in the item's history under `actor`.
pub async fn download(q: &Arc<Quarantine>, id: i64, actor: String) -> Result<Response, ApiError> {
    let (name, zip) = blocking(q, move |q| {
        let (item, bytes) = q.sample(id)?;
        let zip = encrypted_zip(&item.meta.file_name, &bytes).map_err(ApiError::internal)?;
        let note = format!("restored: downloaded as an encrypted zip of {} bytes", zip.len());
        q.change(id, &Change { status: item.status, actor, note, definitions_needed: None, error: None })?;
        Ok((entry_name(&item.meta.file_name), zip))
    })
    .await?;
    // A header value must be visible ASCII.
    let ascii: String =
        name.chars().map(|c| if c.is_ascii_graphic() && c != '"' && c != '\\' { c } else { '_' }).collect();
    let disposition = format!("attachment; filename=\"{ascii}.zip\"");
    Ok((
        [
            (header::CONTENT_TYPE, "application/zip".to_string()),
            (header::CONTENT_DISPOSITION, disposition),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff".to_string()),
        ],
        zip,
    )
        .into_response())
}

/// The last path component of `name` without control characters, so an
/// unzip never writes outside its directory; `sample.bin` if nothing is
/// left.
pub fn entry_name(name: &str) -> String {
    let base = name.rsplit(['/', '\\']).next().unwrap_or("");
    let clean: String = base.chars().filter(|c| !c.is_control()).collect();
    let clean = clean.trim();
    if clean.is_empty() || clean == "." || clean == ".." { "sample.bin".into() } else { clean.to_string() }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    #[test]
    fn opens_with_the_password_only() {
        let zip = encrypted_zip("dir/evil.exe", b"MZ payload").unwrap();
        let mut archive = zip::ZipArchive::new(Cursor::new(zip)).unwrap();
        // ZipCrypto checks a password against one byte: a wrong one is
        // refused at once or (1 in 256) yields bytes that fail the CRC.
        if let Ok(mut wrong) = archive.by_index_decrypt(0, b"wrong") {
            let mut out = Vec::new();
            assert!(wrong.read_to_end(&mut out).is_err() || out != b"MZ payload");
        }
        let mut file = archive.by_index_decrypt(0, PASSWORD.as_bytes()).unwrap();
        assert_eq!(file.name().unwrap(), "evil.exe");
        let mut back = Vec::new();
        file.read_to_end(&mut back).unwrap();
        assert_eq!(back, b"MZ payload");
    }

    #[test]
    fn names_cannot_escape() {
        assert_eq!(entry_name("..\\..\\x.doc"), "x.doc");
        assert_eq!(entry_name("../"), "sample.bin");
        assert_eq!(entry_name(".."), "sample.bin");
        assert_eq!(entry_name("a\u{0}b"), "ab");
    }
}
