//! VBA macro source as Office stores it: MS-OVBA compression (§2.4.1) and
//! recovery of a module's source text from its module stream (§2.3.4.3).
//!
//! A module stream is a "performance cache" (compiled p-code, binary and
//! specific to the Office version) followed by the compressed source code,
//! which runs to the end of the stream. Where the source starts is recorded
//! in the project's `dir` stream (`MODULEOFFSET`), but the scanner sees each
//! stream on its own, and the `dir` stream is a target of its own. So
//! [`source`] finds the compressed container in the stream itself: a
//! container is the signature byte `0x01` followed by chunks whose headers
//! carry the fixed signature bits `0b011` and their own length, and it must
//! end exactly at the end of the stream. Which offsets start such a chain is
//! computed for the whole stream in one backward pass, and of those the
//! first whose content decompresses to text wins. This needs no other
//! stream, and copes with a `dir` stream that lies about the offset (a trick
//! used to hide the source from tools that trust it).

use crate::mime::detect::{FileType, detect};

/// Largest source text [`source`] recovers from one module: VBA modules
/// are limited to 64K lines and are far smaller in practice, while a hostile
/// stream of copy tokens expands about 2000-fold.
pub const MAX_SOURCE_BYTES: usize = 1 << 20;

/// Containers [`source`] decompresses before giving up, so a stream full of
/// chunk-like byte patterns costs a bounded amount of work.
const MAX_ATTEMPTS: usize = 16;

/// First byte of every compressed container.
const SIGNATURE: u8 = 0x01;

/// A chunk decompresses to at most this many bytes, and copy tokens reach
/// back only within their chunk.
const CHUNK_SIZE: usize = 4096;

/// The chunk header's signature bits (12–14), always `0b011`.
const HEADER_SIGNATURE_MASK: u16 = 0x7000;
const HEADER_SIGNATURE: u16 = 0x3000;
/// The chunk header's flag bit: set for token sequences, clear for raw bytes.
const HEADER_COMPRESSED: u16 = 0x8000;
/// The chunk header's size bits: the chunk's data length minus one.
const HEADER_SIZE_MASK: u16 = 0x0FFF;

/// Decompress an MS-OVBA compressed container (`0x01`, then chunks).
///
/// At most `cap` bytes come out: decompression stops there and returns what
/// it has, without reading the rest, so a container that expands without
/// bound costs no more than `cap`. Returns `None` for anything malformed:
/// a wrong signature, a bad chunk header, a chunk or token cut short, a copy
/// token reaching before its chunk, or a chunk growing past 4096 bytes.
pub fn decompress(container: &[u8], cap: usize) -> Option<Vec<u8>> {
    let (&signature, mut rest) = container.split_first()?;
    if signature != SIGNATURE {
        return None;
    }
    let mut out = Vec::new();
    while !rest.is_empty() && out.len() < cap {
        let (chunk, after) = Chunk::split(rest)?;
        chunk.decompress(&mut out, cap)?;
        rest = after;
    }
    Some(out)
}

/// The VBA source text of `stream`: a module stream's compressed source
/// (found as the module doc above describes), or the stream itself when it
/// is already plain text (a `.bas` or `.vbs` file). Text is decoded as
/// UTF-8, invalid bytes replaced: VBA stores source in the project's code
/// page, and the keywords that matter are ASCII in all of them. At most
/// [`MAX_SOURCE_BYTES`] of source come out. `None` when no source is found.
pub fn source(stream: &[u8]) -> Option<String> {
    let text = if detect(stream) == FileType::Text {
        stream.get(..MAX_SOURCE_BYTES).unwrap_or(stream).to_vec()
    } else {
        container_starts(stream)
            .filter_map(|start| stream.get(start..))
            .take(MAX_ATTEMPTS)
            .filter_map(|container| decompress(container, MAX_SOURCE_BYTES))
            .find(|text| !text.is_empty() && detect(text) == FileType::Text)?
    };
    Some(String::from_utf8_lossy(&text).into_owned())
}

/// Offsets in `stream` holding a signature byte followed by a chain of
/// well-formed chunk headers that ends exactly at the end of the stream,
/// in ascending order (the first is the longest container).
fn container_starts(stream: &[u8]) -> impl Iterator<Item = usize> + '_ {
    // ends[i]: a chain of chunks starting at i ends exactly at the end.
    // Filled from the back, each chunk looking up the one after it.
    let mut ends = vec![false; stream.len() + 1];
    if let Some(last) = ends.last_mut() {
        *last = true;
    }
    for at in (0..stream.len()).rev() {
        let next = stream.get(at..).and_then(Chunk::split).map(|(_, rest)| stream.len() - rest.len());
        ends[at] = next.is_some_and(|next| ends[next]);
    }
    stream.iter().enumerate().filter(move |&(at, &byte)| byte == SIGNATURE && ends[at + 1]).map(|(at, _)| at)
}

/// One chunk of a container: its data, token sequences or raw bytes.
struct Chunk<'a> {
    compressed: bool,
    data: &'a [u8],
}

impl<'a> Chunk<'a> {
    /// The chunk at the start of `input` and what follows it; `None` when
    /// the header is not a chunk header or the chunk is cut short.
    fn split(input: &'a [u8]) -> Option<(Chunk<'a>, &'a [u8])> {
        let (header, rest) = input.split_first_chunk::<2>()?;
        let header = u16::from_le_bytes(*header);
        if header & HEADER_SIGNATURE_MASK != HEADER_SIGNATURE {
            return None;
        }
        let (data, rest) = rest.split_at_checked(usize::from(header & HEADER_SIZE_MASK) + 1)?;
        Some((Chunk { compressed: header & HEADER_COMPRESSED != 0, data }, rest))
    }

    /// Append the chunk's decompressed bytes to `out`, stopping at `cap`.
    fn decompress(&self, out: &mut Vec<u8>, cap: usize) -> Option<()> {
        if !self.compressed {
            let room = cap.saturating_sub(out.len());
            out.extend_from_slice(self.data.get(..room).unwrap_or(self.data));
            return Some(());
        }
        let start = out.len();
        let mut input = self.data;
        // Token sequences: a flag byte, then up to eight tokens, one per
        // flag bit from the lowest; the last sequence may hold fewer.
        while let Some((&flags, rest)) = input.split_first() {
            input = rest;
            for bit in 0..8 {
                if input.is_empty() || out.len() >= cap {
                    break;
                }
                if flags & (1 << bit) == 0 {
                    let (&literal, rest) = input.split_first()?;
                    if out.len() - start >= CHUNK_SIZE {
                        return None;
                    }
                    out.push(literal);
                    input = rest;
                } else {
                    let (token, rest) = input.split_first_chunk::<2>()?;
                    copy(out, start, u16::from_le_bytes(*token), cap)?;
                    input = rest;
                }
            }
        }
        Some(())
    }
}

/// Apply a copy token: repeat earlier bytes of the chunk (which began at
/// `chunk_start` in `out`). The token packs an offset and a length, and
/// the split between them depends on how much of the chunk is already out:
/// the offset gets just enough bits to reach the chunk's start (at least 4).
fn copy(out: &mut Vec<u8>, chunk_start: usize, token: u16, cap: usize) -> Option<()> {
    let done = out.len() - chunk_start;
    let offset_bits = (usize::BITS - done.saturating_sub(1).leading_zeros()).max(4);
    let length = usize::from(token & (0xFFFF >> offset_bits)) + 3;
    let offset = usize::from(token >> (16 - offset_bits)) + 1;
    if offset > done || done + length > CHUNK_SIZE {
        return None;
    }
    // The source may overlap what is being written (offset < length
    // repeats a pattern), so copy at most `offset` bytes at a time.
    let mut left = length.min(cap.saturating_sub(out.len()));
    let mut from = out.len() - offset;
    while left > 0 {
        let n = left.min(offset);
        out.extend_from_within(from..from + n);
        from += n;
        left -= n;
    }
    Some(())
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A greedy MS-OVBA compressor (test input only): per 4096-byte chunk,
    /// the longest earlier match of at least three bytes becomes a copy
    /// token, the nearest winning ties; a chunk whose tokens would not fit
    /// the 12-bit size is stored raw.
    fn compress(data: &[u8]) -> Vec<u8> {
        let mut out = vec![SIGNATURE];
        for chunk in data.chunks(CHUNK_SIZE) {
            let tokens = compress_chunk(chunk);
            let (flag, body) =
                if tokens.len() <= CHUNK_SIZE { (HEADER_COMPRESSED, tokens) } else { (0, chunk.to_vec()) };
            let header = flag | HEADER_SIGNATURE | (body.len() as u16 - 1);
            out.extend_from_slice(&header.to_le_bytes());
            out.extend_from_slice(&body);
        }
        out
    }

    fn compress_chunk(chunk: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        let mut at = 0;
        while at < chunk.len() {
            let flag_at = out.len();
            out.push(0u8);
            for bit in 0..8 {
                if at >= chunk.len() {
                    break;
                }
                let offset_bits = (usize::BITS - at.saturating_sub(1).leading_zeros()).max(4);
                let max_length = (0xFFFF >> offset_bits) + 3;
                let longest = max_length.min(chunk.len() - at);
                let (mut offset, mut length) = (0, 0);
                for candidate in 1..=at {
                    let n = (0..longest).take_while(|&i| chunk[at + i] == chunk[at - candidate + i]).count();
                    if n > length {
                        (offset, length) = (candidate, n);
                        if n == longest {
                            break;
                        }
                    }
                }
                if length >= 3 {
                    let token = (((offset - 1) << (16 - offset_bits)) | (length - 3)) as u16;
                    out.extend_from_slice(&token.to_le_bytes());
                    out[flag_at] |= 1 << bit;
                    at += length;
                } else {
                    out.push(chunk[at]);
                    at += 1;
                }
            }
        }
        out
    }

    fn hex(s: &str) -> Vec<u8> {
        s.split_whitespace().map(|b| u8::from_str_radix(b, 16).unwrap()).collect()
    }

    /// The three examples of MS-OVBA §3.2, each both ways.
    #[test]
    fn specification_examples() {
        let examples = [
            (
                "abcdefghijklmnopqrstuv.".to_string(),
                "01 19 B0 00 61 62 63 64 65 66 67 68 00 69 6A 6B 6C 6D 6E 6F 70 00 71 72 73 74 75 76 2E",
            ),
            (
                "#aaabcdefaaaaghijaaaaaklaaamnopqaaaaaaaaaaaarstuvwxyzaaa".to_string(),
                "01 2F B0 00 23 61 61 61 62 63 64 65 82 66 00 70 61 67 68 69 6A 01 38 08 61 6B 6C 00 20 6D 6E 6F \
                 70 06 71 02 70 04 00 72 73 74 75 76 10 77 78 79 7A 00 2C",
            ),
            ("a".repeat(73), "01 03 B0 02 61 45 00"),
        ];
        for (plain, compressed) in examples {
            assert_eq!(decompress(&hex(compressed), usize::MAX).as_deref(), Some(plain.as_bytes()), "{plain}");
            assert_eq!(compress(plain.as_bytes()), hex(compressed), "{plain}");
        }
    }

    /// `len` pseudo-random bytes (xorshift), the same on every run.
    fn noise(len: usize) -> Vec<u8> {
        let mut state = 0x9E37_79B9u32;
        (0..len)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 17;
                state ^= state << 5;
                (state >> 24) as u8
            })
            .collect()
    }

    fn sample_source(len: usize) -> Vec<u8> {
        let mut text = b"Attribute VB_Name = \"Module1\"\r\n".to_vec();
        let mut n = 0u64;
        while text.len() < len {
            // Varied lines, so chunks hold both literals and copies.
            n = n.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            text.extend_from_slice(format!("    total = total + {} ' step {}\r\n", n >> 40, n % 97).as_bytes());
        }
        text.truncate(len);
        text
    }

    #[test]
    fn round_trip_across_chunks() {
        for data in [Vec::new(), sample_source(3), sample_source(4096), sample_source(20_000), noise(9000)] {
            let compressed = compress(&data);
            assert_eq!(decompress(&compressed, usize::MAX).as_deref(), Some(&data[..]), "{} bytes", data.len());
        }
        assert_eq!(compress(&noise(4096))[2] & 0x80, 0, "incompressible data is stored in a raw chunk");
    }

    #[test]
    fn cap_holds() {
        let source = sample_source(20_000);
        let compressed = compress(&source);
        for cap in [0, 1, 100, 4096, 4097, 10_000] {
            assert_eq!(decompress(&compressed, cap).as_deref(), Some(&source[..cap]));
        }
        // One literal and a maximal copy token per chunk: 6 bytes in, 4096 out.
        let mut bomb = vec![SIGNATURE];
        for _ in 0..10_000 {
            bomb.extend_from_slice(&[0x03, 0xB0, 0x02, b'x', 0xFC, 0x0F]);
        }
        assert_eq!(decompress(&bomb[..7], usize::MAX).unwrap().len(), 4096);
        assert_eq!(decompress(&bomb, 1 << 16).unwrap().len(), 1 << 16);
    }

    #[test]
    fn malformed_input_is_refused() {
        let compressed = compress(&sample_source(10_000));
        for cut in [2, 3, 100, compressed.len() / 2, compressed.len() - 1] {
            assert_eq!(decompress(&compressed[..cut], usize::MAX), None, "cut at {cut}");
        }
        assert_eq!(decompress(&[], usize::MAX), None);
        assert_eq!(decompress(&[0x02, 0x19, 0xB0], usize::MAX), None, "signature byte");
        assert_eq!(decompress(&[0x01, 0x02, 0x80, 0x00, b'a', b'b'], usize::MAX), None, "chunk signature bits");
        assert_eq!(decompress(&[0x01, 0x02, 0xB0, 0x01, 0x00, 0x00], usize::MAX), None, "copy before any byte");
        assert_eq!(decompress(&[0x01, 0x02, 0xB0, 0x02, b'a', 0x10], usize::MAX), None, "token cut short");
        assert_eq!(decompress(&[0x01, 0x03, 0xB0, 0x02, b'a', 0x00, 0x10], usize::MAX), None, "offset past start");
        // 4096 bytes from one copy, then one literal too many.
        assert_eq!(decompress(&[0x01, 0x04, 0xB0, 0x02, b'a', 0xFC, 0x0F, b'b'], usize::MAX), None, "chunk overflow");
        for len in [5, 64, 1000, 10_000] {
            let garbage = noise(len);
            let _ = decompress(&garbage, 1 << 20);
            let mut signed = vec![SIGNATURE];
            signed.extend_from_slice(&garbage);
            let _ = decompress(&signed, 1 << 20);
            assert_eq!(source(&garbage), None, "{len} bytes of garbage");
        }
    }

    /// A module stream as Office writes it: a binary performance cache,
    /// then the compressed source to the end of the stream.
    pub(crate) fn module_stream(source: &[u8]) -> Vec<u8> {
        let mut stream = vec![0x01, 0x16, 0x03, 0x00, 0x00, 0xF0, 0x00, 0x00, 0x00];
        // Cache bytes that look like the start of containers, and fail.
        stream.extend_from_slice(&[0x01, 0x05, 0xB0, 0x00, 0xFF, 0xFF, 0x00, 0x00, 0x01, 0xFF, 0x3F]);
        stream.extend((0..600u32).map(|i| (i * 7 % 251) as u8));
        stream.extend_from_slice(&compress(source));
        stream
    }

    #[test]
    fn source_from_module_stream() {
        for text in [sample_source(200), sample_source(30_000)] {
            assert_eq!(source(&module_stream(&text)).unwrap().as_bytes(), &text[..]);
        }
        // Repetitive, so the test compressor is quick on a megabyte.
        let big = "Attribute VB_Name = \"Big\"\r\n".to_string() + &"    x = x + 1\r\n".repeat(MAX_SOURCE_BYTES / 10);
        assert_eq!(source(&module_stream(big.as_bytes())).unwrap().len(), MAX_SOURCE_BYTES);
        // A module that decompresses to binary is not source.
        assert_eq!(source(&module_stream(&[0u8, 1, 2, 3, 0, 0, 0, 9])), None);
        let mut cut = module_stream(&sample_source(10_000));
        cut.truncate(cut.len() - 10);
        assert_eq!(source(&cut), None, "the container must run to the end of the stream");
    }

    #[test]
    fn source_from_plain_text() {
        let bas = "Attribute VB_Name = \"Module1\"\r\nSub Hello()\r\n    MsgBox \"Hi\"\r\nEnd Sub\r\n";
        assert_eq!(source(bas.as_bytes()).as_deref(), Some(bas));
    }
}
