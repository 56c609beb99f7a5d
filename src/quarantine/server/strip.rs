//! "Strip user data" for submissions (SPEC §7, `strip_user_data`): the
//! analyst needs the malicious code, not the victim's words. Macros and
//! other binary parts are kept byte for byte; text is blanked.
//!
//! This first version covers:
//! - Office Open XML (`.docx`/`.docm`/`.xlsx`/`.pptx`...): the text of every
//!   XML part is blanked (body, shared strings, slides, notes, comments,
//!   headers and footers, document properties); markup, relationships,
//!   `[Content_Types].xml` and the VBA project are kept, so the package
//!   still opens and its macros run.
//! - Legacy OLE2 documents (`.doc`/`.xls`/`.ppt`): the summary-information
//!   property streams (author, title, company...) are zeroed and removed.
//!   Their body text stays: blanking it needs each format's text tables
//!   (Word's piece table, Excel's SST, PowerPoint's text atoms), left for a
//!   later version.
//!
//! Anything else is submitted as it is.

use std::io::{Cursor, Read, Write};
use zip::ZipArchive;
use zip::write::SimpleFileOptions;

/// Largest unpacked XML part blanked; a bigger one makes stripping fail
/// rather than exhaust memory.
const MAX_PART: u64 = 256 * 1024 * 1024;
const OLE_MAGIC: &[u8] = &[0xD0, 0xCF, 0x11, 0xE0, 0xA1, 0xB1, 0x1A, 0xE1];
/// The OLE property-set streams that carry who wrote the document.
const PROPERTY_STREAMS: [&str; 2] = ["\u{5}SummaryInformation", "\u{5}DocumentSummaryInformation"];

/// What stripping did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stripped {
    pub bytes: Vec<u8>,
    /// One sentence for the item's history and the submission.
    pub note: String,
}

/// `data` with its user text removed, when it is an Office document. A
/// document that is recognised but cannot be processed is an error: its
/// text must not leave unstripped.
pub fn strip_user_data(data: &[u8]) -> Result<Stripped, String> {
    if data.starts_with(OLE_MAGIC) {
        return ole(data);
    }
    if data.starts_with(b"PK\x03\x04")
        && let Ok(archive) = ZipArchive::new(Cursor::new(data))
        && archive.index_for_name("[Content_Types].xml").is_some()
    {
        return ooxml(archive);
    }
    Ok(Stripped { bytes: data.to_vec(), note: "not an Office document: sent unchanged".into() })
}

fn ooxml(mut archive: ZipArchive<Cursor<&[u8]>>) -> Result<Stripped, String> {
    let fail = |e: &dyn std::fmt::Display| format!("Office Open XML document cannot be stripped: {e}");
    let mut out = zip::ZipWriter::new(Cursor::new(Vec::new()));
    let deflated = SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated);
    let mut blanked = 0usize;
    for i in 0..archive.len() {
        let mut part = archive.by_index(i).map_err(|e| fail(&e))?;
        let name = part.name().map_err(|e| fail(&e))?.into_owned();
        if !has_user_text(&name) {
            out.raw_copy_file(part).map_err(|e| fail(&e))?;
            continue;
        }
        let mut xml = Vec::new();
        (&mut part).take(MAX_PART + 1).read_to_end(&mut xml).map_err(|e| fail(&e))?;
        if xml.len() as u64 > MAX_PART {
            return Err(fail(&format!("{name} unpacks to more than {MAX_PART} bytes")));
        }
        out.start_file(name, deflated).map_err(|e| fail(&e))?;
        out.write_all(&blank_text(&xml)).map_err(|e| fail(&e))?;
        blanked += 1;
    }
    let bytes = out.finish().map_err(|e| fail(&e))?.into_inner();
    Ok(Stripped {
        bytes,
        note: format!("text blanked in {blanked} parts of the Office Open XML document; macros kept"),
    })
}

/// XML parts that may hold the user's text; relationships, content types
/// and the VBA project's own parts are structure.
fn has_user_text(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    lower.ends_with(".xml") && lower != "[content_types].xml" && !lower.ends_with("vbadata.xml")
}

/// `xml` with every character data byte outside markup removed, except
/// line breaks (kept so the layout of the file stays; spaces would tell the
/// word count). Quoted attribute values, which may contain `>`, are kept
/// whole.
fn blank_text(xml: &[u8]) -> Vec<u8> {
    enum State {
        Text,
        Tag,
        Quoted(u8),
    }
    let mut out = Vec::with_capacity(xml.len());
    let mut state = State::Text;
    for &b in xml {
        state = match state {
            State::Text if b == b'<' => State::Tag,
            State::Text => {
                if b == b'\n' || b == b'\r' {
                    out.push(b);
                }
                continue;
            }
            State::Tag if b == b'"' || b == b'\'' => State::Quoted(b),
            State::Tag if b == b'>' => State::Text,
            State::Quoted(q) if b == q => State::Tag,
            other => other,
        };
        out.push(b);
    }
    out
}

fn ole(data: &[u8]) -> Result<Stripped, String> {
    let fail = |e: std::io::Error| format!("OLE2 document cannot be stripped: {e}");
    let mut file = cfb::CompoundFile::open(Cursor::new(data.to_vec())).map_err(fail)?;
    let mut removed = 0usize;
    for name in PROPERTY_STREAMS {
        let path = format!("/{name}");
        if !file.is_stream(&path) {
            continue;
        }
        // Zeroed first: removing a stream only frees its sectors.
        let mut stream = file.open_stream(&path).map_err(fail)?;
        let len = usize::try_from(stream.len()).map_err(|_| fail(std::io::Error::other("stream too large")))?;
        stream.write_all(&vec![0u8; len]).map_err(fail)?;
        drop(stream);
        file.remove_stream(&path).map_err(fail)?;
        removed += 1;
    }
    file.flush().map_err(fail)?;
    let bytes = file.into_inner().into_inner();
    let note = format!(
        "{removed} document property streams removed from the OLE2 document; its body text and macros are unchanged"
    );
    Ok(Stripped { bytes, note })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn docm() -> Vec<u8> {
        let mut zip = zip::ZipWriter::new(Cursor::new(Vec::new()));
        let options = SimpleFileOptions::default();
        for (name, content) in [
            ("[Content_Types].xml", &b"<Types><Default Extension=\"xml\"/></Types>"[..]),
            (
                "word/document.xml",
                b"<w:document><w:body><w:p><w:r><w:t a=\"x>y\">Secret plan</w:t></w:r></w:p></w:body></w:document>",
            ),
            ("docProps/core.xml", b"<cp:coreProperties><dc:creator>Alice Victim</dc:creator></cp:coreProperties>"),
            ("word/vbaProject.bin", b"\xd0\xcf\x11\xe0 Sub AutoOpen() Shell \"evil\""),
        ] {
            zip.start_file(name, options).unwrap();
            zip.write_all(content).unwrap();
        }
        zip.finish().unwrap().into_inner()
    }

    fn part(doc: &[u8], name: &str) -> Vec<u8> {
        let mut archive = ZipArchive::new(Cursor::new(doc)).unwrap();
        let mut out = Vec::new();
        archive.by_name(name).unwrap().read_to_end(&mut out).unwrap();
        out
    }

    #[test]
    fn office_open_xml_loses_its_text_and_keeps_its_macros() {
        let stripped = strip_user_data(&docm()).unwrap();
        let body = String::from_utf8(part(&stripped.bytes, "word/document.xml")).unwrap();
        assert_eq!(body, "<w:document><w:body><w:p><w:r><w:t a=\"x>y\"></w:t></w:r></w:p></w:body></w:document>");
        assert!(!String::from_utf8_lossy(&part(&stripped.bytes, "docProps/core.xml")).contains("Alice"));
        assert_eq!(part(&stripped.bytes, "word/vbaProject.bin"), part(&docm(), "word/vbaProject.bin"));
        assert_eq!(part(&stripped.bytes, "[Content_Types].xml"), part(&docm(), "[Content_Types].xml"));
        assert!(stripped.note.contains("macros kept"), "{}", stripped.note);
    }

    #[test]
    fn ole_documents_lose_their_properties() {
        let mut file = cfb::CompoundFile::create(Cursor::new(Vec::new())).unwrap();
        file.create_stream("/\u{5}SummaryInformation").unwrap().write_all(b"Author: Alice Victim").unwrap();
        file.create_stream("/Macros").unwrap().write_all(b"Sub AutoOpen()").unwrap();
        file.flush().unwrap();
        let doc = file.into_inner().into_inner();
        let stripped = strip_user_data(&doc).unwrap();
        assert!(!stripped.bytes.windows(5).any(|w| w == b"Alice"));
        let mut back = cfb::CompoundFile::open(Cursor::new(stripped.bytes)).unwrap();
        assert!(!back.is_stream("/\u{5}SummaryInformation"));
        let mut macros = Vec::new();
        back.open_stream("/Macros").unwrap().read_to_end(&mut macros).unwrap();
        assert_eq!(macros, b"Sub AutoOpen()");
    }

    #[test]
    fn other_files_pass_and_broken_documents_fail() {
        assert_eq!(strip_user_data(b"MZ binary").unwrap().bytes, b"MZ binary");
        assert!(strip_user_data(&[OLE_MAGIC, b"truncated"].concat()).is_err());
    }
}
