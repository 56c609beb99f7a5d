//! ClamAV database packages (`.cvd`, `.cld`): a 512-byte ASCII header
//! `ClamAV-VDB:BuildTime:Version:Signatures:FunctionalityLevel:MD5:DigitalSignature:Builder:BuildSeconds`
//! padded with spaces, then a tar archive — gzip-compressed in a `.cvd`,
//! plain or compressed in a `.cld` (what freshclam leaves after applying
//! incremental updates).
//!
//! The header's MD5 covers the compressed body and is checked whenever
//! the body is compressed and the header carries one; a plain-tar body
//! keeps the header of the package it was rebuilt from, so there is
//! nothing to check it against. The RSA digital signature of official
//! packages is not verified: that needs ClamAV's public key and its
//! signature scheme, and packages reach the gateway through the
//! administrator's own update channel.

use super::NamedFiles;
use md5::{Digest, Md5};
use std::io::Read;

/// Size of the package header.
const HEADER_LEN: usize = 512;
/// Largest unpacked archive accepted (the official `main` and `daily`
/// unpack to a few hundred MB), so a hostile package cannot exhaust memory.
const MAX_UNPACKED: u64 = 2 << 30;
const MAGIC: &str = "ClamAV-VDB";
const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];

/// What a package header says, for the definitions code to log, compare
/// versions and decide whether an update is newer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CvdHeader {
    /// The database name (`daily`, `main`), from the package's `.info`
    /// member since the header does not carry it; empty if there is none.
    pub name: String,
    /// When the package was built, as written (`16 Nov 2023 09-15 -0500`).
    pub build_time: String,
    /// The sequence number: higher is newer.
    pub version: u32,
    /// How many signatures the package says it holds.
    pub signatures: u64,
    /// The lowest engine functionality level the package is meant for.
    pub functionality_level: u32,
    /// Hex MD5 of the body (may be empty).
    pub md5: String,
    /// The builder's RSA signature (not verified).
    pub digital_signature: String,
    pub builder: String,
    /// Build time in seconds since the epoch, when present.
    pub build_seconds: Option<u64>,
}

/// Read a package: its header and its members as (file name, bytes).
pub fn read_cvd(bytes: &[u8]) -> Result<(CvdHeader, NamedFiles), String> {
    let (head, body) = bytes.split_at_checked(HEADER_LEN).ok_or("shorter than the 512-byte header")?;
    let mut header = parse_header(head)?;
    let unpacked;
    let tar = if body.starts_with(&GZIP_MAGIC) {
        if header.md5.len() == 32 {
            let actual: String = Md5::digest(body).iter().map(|b| format!("{b:02x}")).collect();
            if !actual.eq_ignore_ascii_case(&header.md5) {
                return Err(format!("MD5 of the body is {actual}, the header says {}", header.md5));
            }
        }
        unpacked = gunzip(body)?;
        &unpacked[..]
    } else {
        body
    };
    let members = untar(tar)?;
    header.name = members.iter().find_map(|(name, _)| name.strip_suffix(".info")).unwrap_or_default().to_string();
    Ok((header, members))
}

fn parse_header(head: &[u8]) -> Result<CvdHeader, String> {
    let text = std::str::from_utf8(head).map_err(|_| "header is not ASCII")?;
    let text = text.trim_end_matches([' ', '\0', '\n', '\r']);
    let fields: Vec<&str> = text.split(':').collect();
    let [magic, build_time, version, signatures, level, md5, signature, builder, rest @ ..] = fields.as_slice() else {
        return Err("header has too few fields".into());
    };
    if *magic != MAGIC {
        return Err(format!("not a ClamAV database package (no {MAGIC} header)"));
    }
    let number = |what: &str, s: &str| s.trim().parse::<u64>().map_err(|_| format!("bad {what} {s:?} in header"));
    let narrow =
        |what: &str, s: &str| number(what, s).and_then(|n| u32::try_from(n).map_err(|_| format!("{what} too large")));
    let build_seconds = match rest {
        [] => None,
        [seconds, ..] => Some(number("build time", seconds)?),
    };
    Ok(CvdHeader {
        name: String::new(),
        build_time: (*build_time).to_string(),
        version: narrow("version", version)?,
        signatures: number("signature count", signatures)?,
        functionality_level: narrow("functionality level", level)?,
        md5: (*md5).to_string(),
        digital_signature: (*signature).to_string(),
        builder: (*builder).to_string(),
        build_seconds,
    })
}

fn gunzip(body: &[u8]) -> Result<Vec<u8>, String> {
    let mut unpacked = Vec::new();
    flate2::read::GzDecoder::new(body)
        .take(MAX_UNPACKED + 1)
        .read_to_end(&mut unpacked)
        .map_err(|e| format!("cannot decompress: {e}"))?;
    if u64::try_from(unpacked.len()).unwrap_or(u64::MAX) > MAX_UNPACKED {
        return Err(format!("unpacks to more than {MAX_UNPACKED} bytes"));
    }
    Ok(unpacked)
}

fn untar(tar: &[u8]) -> Result<NamedFiles, String> {
    let bad = |e: std::io::Error| format!("bad tar archive: {e}");
    let mut archive = tar::Archive::new(tar);
    let mut members = Vec::new();
    for entry in archive.entries().map_err(bad)? {
        let mut entry = entry.map_err(bad)?;
        if !entry.header().entry_type().is_file() {
            continue;
        }
        let path = entry.path().map_err(bad)?;
        let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let mut content = Vec::new();
        entry.read_to_end(&mut content).map_err(bad)?;
        members.push((name, content));
    }
    Ok(members)
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use flate2::{Compression, write::GzEncoder};
    use std::io::Write;

    /// A tar of `members`.
    pub fn tar_of(members: &[(&str, &[u8])]) -> Vec<u8> {
        let mut builder = tar::Builder::new(Vec::new());
        for (name, content) in members {
            let mut header = tar::Header::new_gnu();
            header.set_size(content.len() as u64);
            header.set_mode(0o644);
            header.set_cksum();
            builder.append_data(&mut header, name, *content).expect("tar member");
        }
        builder.into_inner().expect("tar")
    }

    /// A package of `body` with a header whose MD5 field is `md5`.
    pub fn package(body: &[u8], md5: &str) -> Vec<u8> {
        let text = format!("ClamAV-VDB:16 Nov 2023 09-15 -0500:27095:2061234:90:{md5}:SIGNATURE:builder:1700144100");
        let mut bytes = format!("{text:<512}").into_bytes();
        bytes.extend_from_slice(body);
        bytes
    }

    /// A `.cvd` holding `members`, with a correct MD5.
    pub fn cvd(members: &[(&str, &[u8])]) -> Vec<u8> {
        let mut gz = GzEncoder::new(Vec::new(), Compression::fast());
        gz.write_all(&tar_of(members)).expect("gzip");
        let body = gz.finish().expect("gzip");
        let md5: String = Md5::digest(&body).iter().map(|b| format!("{b:02x}")).collect();
        package(&body, &md5)
    }

    #[test]
    fn header_and_members_of_a_cvd() {
        let bytes = cvd(&[("daily.info", b"info"), ("daily.ndb", b"Sig:0:*:414243\n")]);
        let (header, members) = read_cvd(&bytes).expect("valid package");
        assert_eq!(header.name, "daily");
        assert_eq!(header.build_time, "16 Nov 2023 09-15 -0500");
        assert_eq!(header.version, 27095);
        assert_eq!(header.signatures, 2061234);
        assert_eq!(header.functionality_level, 90);
        assert_eq!(header.builder, "builder");
        assert_eq!(header.digital_signature, "SIGNATURE");
        assert_eq!(header.build_seconds, Some(1700144100));
        assert_eq!(
            members,
            vec![("daily.info".to_string(), b"info".to_vec()), ("daily.ndb".to_string(), b"Sig:0:*:414243\n".to_vec())]
        );
    }

    #[test]
    fn a_wrong_md5_is_refused() {
        let mut bytes = cvd(&[("main.ndb", b"Sig:0:*:414243\n")]);
        let good = read_cvd(&bytes).expect("valid").0.md5;
        let bad = good.chars().rev().collect::<String>();
        let header = String::from_utf8_lossy(&bytes[..512]).replace(&good, &bad);
        bytes[..512].copy_from_slice(header.as_bytes());
        assert!(read_cvd(&bytes).is_err_and(|e| e.contains("MD5")));
    }

    #[test]
    fn a_cld_may_hold_a_plain_tar() {
        let bytes = package(&tar_of(&[("daily.hdb", b"x")]), "0123456789abcdef0123456789abcdef");
        let (header, members) = read_cvd(&bytes).expect("plain tar accepted");
        assert_eq!(header.version, 27095);
        assert_eq!(members.len(), 1);
    }

    #[test]
    fn broken_packages_are_errors() {
        assert!(read_cvd(b"ClamAV-VDB:short").is_err());
        assert!(read_cvd(&package(b"", "")).is_ok_and(|(_, m)| m.is_empty()), "an empty tar");
        let mut other = package(b"", "");
        other[..10].copy_from_slice(b"NotClamAV:");
        assert!(read_cvd(&other).is_err());
        let mut bad_version = package(b"", "");
        bad_version[..40].copy_from_slice(format!("{:<40}", "ClamAV-VDB:t:x:1:90:m:s:b:").as_bytes());
        assert!(read_cvd(&bad_version).is_err());
        assert!(read_cvd(&package(&[0x1f, 0x8b, 1, 2, 3], "")).is_err(), "broken gzip");
        assert!(read_cvd(&package(&[7u8; 1024], "")).is_err(), "not a tar");
    }
}
