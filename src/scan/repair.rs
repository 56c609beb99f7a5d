//! Macro repair (SPEC §6): an Office Open XML document whose infection is
//! in its macros keeps its content and loses its VBA project. The document
//! must still open, so the project's parts go together with every
//! reference to them, and the main part becomes the macro-free type
//! (a `.docm` body becomes a `.docx` body).

use std::io::{Cursor, Read, Write};
use zip::ZipArchive;
use zip::write::SimpleFileOptions;

/// Macro-enabled main-part content types and their macro-free equivalents.
const MAIN_TYPES: [(&str, &str); 6] = [
    (
        "application/vnd.ms-word.document.macroEnabled.main+xml",
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml",
    ),
    (
        "application/vnd.ms-word.template.macroEnabledTemplate.main+xml",
        "application/vnd.openxmlformats-officedocument.wordprocessingml.template.main+xml",
    ),
    (
        "application/vnd.ms-excel.sheet.macroEnabled.main+xml",
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml",
    ),
    (
        "application/vnd.ms-excel.template.macroEnabled.main+xml",
        "application/vnd.openxmlformats-officedocument.spreadsheetml.template.main+xml",
    ),
    (
        "application/vnd.ms-powerpoint.presentation.macroEnabled.main+xml",
        "application/vnd.openxmlformats-officedocument.presentationml.presentation.main+xml",
    ),
    (
        "application/vnd.ms-powerpoint.slideshow.macroEnabled.main+xml",
        "application/vnd.openxmlformats-officedocument.presentationml.slideshow.main+xml",
    ),
];

/// True for the parts that make up a VBA project.
fn is_vba_part(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    let base = lower.rsplit('/').next().unwrap_or(&lower);
    matches!(base, "vbaproject.bin" | "vbadata.xml" | "vbaproject.bin.rels" | "vbadata.xml.rels")
}

/// True if `doc` is an Office Open XML package with a VBA project.
pub fn has_macros(doc: &[u8]) -> bool {
    ZipArchive::new(Cursor::new(doc)).is_ok_and(|z| {
        let names: Vec<String> = z.file_names().filter_map(|n| n.ok().map(|n| n.into_owned())).collect();
        names.iter().any(|n| n == "[Content_Types].xml") && names.iter().any(|n| is_vba_part(n))
    })
}

/// `doc` without its VBA project, still a valid package.
pub fn strip_macros(doc: &[u8]) -> Result<Vec<u8>, String> {
    let mut archive = ZipArchive::new(Cursor::new(doc)).map_err(|e| e.to_string())?;
    let mut out = zip::ZipWriter::new(Cursor::new(Vec::new()));
    let deflated = SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated);
    for i in 0..archive.len() {
        let mut file = archive.by_index(i).map_err(|e| e.to_string())?;
        let name = file.name().map_err(|e| e.to_string())?.into_owned();
        if is_vba_part(&name) {
            continue;
        }
        let edit: Option<fn(&str) -> String> = if name == "[Content_Types].xml" {
            Some(content_types)
        } else if name.ends_with(".rels") {
            Some(relationships)
        } else {
            None
        };
        match edit {
            None => {
                drop(file);
                let raw = archive.by_index_raw(i).map_err(|e| e.to_string())?;
                out.raw_copy_file(raw).map_err(|e| e.to_string())?;
            }
            Some(edit) => {
                // XML parts of an Office package are small; the whole
                // document was already read within the decomposition budget.
                let mut xml = String::new();
                file.read_to_string(&mut xml).map_err(|e| format!("{name}: {e}"))?;
                out.start_file(name, deflated).map_err(|e| e.to_string())?;
                out.write_all(edit(&xml).as_bytes()).map_err(|e| e.to_string())?;
            }
        }
    }
    Ok(out.finish().map_err(|e| e.to_string())?.into_inner())
}

/// `[Content_Types].xml` without VBA entries, main part made macro-free.
fn content_types(xml: &str) -> String {
    let mut xml = without_elements(xml, |e| {
        let lower = e.to_ascii_lowercase();
        lower.contains("vbaproject") || lower.contains("vbadata")
    });
    for (macro_type, plain) in MAIN_TYPES {
        xml = xml.replace(macro_type, plain);
    }
    xml
}

/// A relationships part without the relationships to VBA parts.
fn relationships(xml: &str) -> String {
    without_elements(xml, |e| {
        let lower = e.to_ascii_lowercase();
        lower.contains("vbaproject") || lower.contains("vbadata")
    })
}

/// `xml` with every self-closing element `<... />` for which `drop` holds
/// removed (Override, Default and Relationship entries are such elements).
fn without_elements(xml: &str, drop: impl Fn(&str) -> bool) -> String {
    let mut out = String::with_capacity(xml.len());
    let mut rest = xml;
    while let Some(start) = rest.find('<') {
        out.push_str(&rest[..start]);
        let Some(len) = rest[start..].find('>') else {
            rest = &rest[start..];
            break;
        };
        let element = &rest[start..start + len + 1];
        if !(element.ends_with("/>") && drop(element)) {
            out.push_str(element);
        }
        rest = &rest[start + len + 1..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn zip(members: &[(&str, &[u8])]) -> Vec<u8> {
        let mut w = zip::ZipWriter::new(Cursor::new(Vec::new()));
        for (name, data) in members {
            w.start_file(*name, SimpleFileOptions::default()).unwrap();
            w.write_all(data).unwrap();
        }
        w.finish().unwrap().into_inner()
    }

    const TYPES: &str = r#"<?xml version="1.0"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"><Default Extension="bin" ContentType="application/vnd.ms-office.vbaProject"/><Default Extension="xml" ContentType="application/xml"/><Override PartName="/word/document.xml" ContentType="application/vnd.ms-word.document.macroEnabled.main+xml"/><Override PartName="/word/vbaData.xml" ContentType="application/vnd.ms-word.vbaData+xml"/></Types>"#;
    const RELS: &str = r#"<?xml version="1.0"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/styles" Target="styles.xml"/><Relationship Id="rId9" Type="http://schemas.microsoft.com/office/2006/relationships/vbaProject" Target="vbaProject.bin"/></Relationships>"#;

    fn docm() -> Vec<u8> {
        zip(&[
            ("[Content_Types].xml", TYPES.as_bytes()),
            ("word/document.xml", b"<w:document>the text stays</w:document>"),
            ("word/_rels/document.xml.rels", RELS.as_bytes()),
            ("word/vbaProject.bin", b"\xD0\xCF\x11\xE0 macro project"),
            ("word/_rels/vbaProject.bin.rels", b"<Relationships/>"),
            ("word/vbaData.xml", b"<wne:vbaSuppData/>"),
            ("word/styles.xml", b"<w:styles/>"),
        ])
    }

    fn read(doc: &[u8], name: &str) -> Option<String> {
        let mut z = ZipArchive::new(Cursor::new(doc)).unwrap();
        let mut s = String::new();
        z.by_name(name).ok()?.read_to_string(&mut s).ok()?;
        Some(s)
    }

    #[test]
    fn the_project_goes_and_the_document_stays_valid() {
        let doc = docm();
        assert!(has_macros(&doc));
        let clean = strip_macros(&doc).unwrap();
        assert!(!has_macros(&clean));
        for gone in ["word/vbaProject.bin", "word/_rels/vbaProject.bin.rels", "word/vbaData.xml"] {
            assert_eq!(read(&clean, gone), None, "{gone} removed");
        }
        let types = read(&clean, "[Content_Types].xml").unwrap();
        assert!(
            !types.contains("vbaProject") && !types.contains("vbaData") && !types.contains("macroEnabled"),
            "{types}"
        );
        assert!(types.contains("wordprocessingml.document.main+xml") && types.contains(r#"Extension="xml""#));
        let rels = read(&clean, "word/_rels/document.xml.rels").unwrap();
        assert!(!rels.contains("vbaProject") && rels.contains("styles.xml"), "{rels}");
        assert_eq!(read(&clean, "word/document.xml").as_deref(), Some("<w:document>the text stays</w:document>"));
        assert_eq!(read(&clean, "word/styles.xml").as_deref(), Some("<w:styles/>"));
    }

    #[test]
    fn not_a_package_is_an_error_not_a_panic() {
        assert!(!has_macros(b"not a zip"));
        assert!(strip_macros(b"PK\x03\x04 broken").is_err());
        assert!(
            !has_macros(&zip(&[("vbaProject.bin", b"x")])),
            "a zip without [Content_Types].xml is no Office document"
        );
    }
}
