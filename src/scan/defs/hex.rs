//! Hexadecimal text for keys, signatures and digests: one line an
//! administrator can paste into a configuration file, compare by eye or
//! grep in a log, with no padding or alphabet variants to get wrong.

const DIGITS: &[u8; 16] = b"0123456789abcdef";

/// `bytes` as lower-case hex, the form every file here is written in.
pub(super) fn encode(bytes: &[u8]) -> String {
    let mut text = String::with_capacity(bytes.len() * 2);
    for byte in bytes {
        text.push(char::from(DIGITS[usize::from(byte >> 4)]));
        text.push(char::from(DIGITS[usize::from(byte & 0xf)]));
    }
    text
}

/// Exactly `N` bytes written as hex in `text`, or `None`. Surrounding
/// whitespace (the line end of a key file) and upper-case digits are
/// accepted, since people copy keys around by hand.
pub(super) fn decode<const N: usize>(text: &[u8]) -> Option<[u8; N]> {
    let digits = text.trim_ascii();
    if digits.len() != 2 * N {
        return None;
    }
    let mut bytes = [0; N];
    for (byte, pair) in bytes.iter_mut().zip(digits.chunks_exact(2)) {
        *byte = (nibble(pair[0])? << 4) | nibble(pair[1])?;
    }
    Some(bytes)
}

fn nibble(digit: u8) -> Option<u8> {
    match digit {
        b'0'..=b'9' => Some(digit - b'0'),
        b'a'..=b'f' => Some(digit - b'a' + 10),
        b'A'..=b'F' => Some(digit - b'A' + 10),
        _ => None,
    }
}
