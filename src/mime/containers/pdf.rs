//! PDF is not opened, but a password-protected PDF is an encrypted
//! container (SPEC §4): nothing inside it can be checked.

/// True if the document has an `/Encrypt` entry (in its trailer or, since
/// PDF 1.5, its cross-reference stream dictionary).
pub fn is_encrypted(data: &[u8]) -> bool {
    const KEY: &[u8] = b"/Encrypt";
    data.windows(KEY.len())
        .enumerate()
        .filter(|(_, w)| *w == KEY)
        .any(|(i, _)| data.get(i + KEY.len()).is_none_or(|b| !b.is_ascii_alphanumeric()))
}

#[cfg(test)]
mod tests {
    use super::is_encrypted;

    #[test]
    fn encrypt_entry_as_a_whole_name() {
        assert!(is_encrypted(b"%PDF-1.4\n...trailer\n<< /Root 1 0 R /Encrypt 5 0 R >>\n%%EOF"));
        assert!(is_encrypted(b"%PDF-1.7\n<< /Type /XRef /Encrypt<< /Filter /Standard >> >>"));
        assert!(!is_encrypted(b"%PDF-1.4\n<< /EncryptMetadata false >>\ntrailer << /Root 1 0 R >>"));
        assert!(!is_encrypted(b"%PDF-1.4\ntrailer << /Root 1 0 R >>\n%%EOF"));
    }
}
