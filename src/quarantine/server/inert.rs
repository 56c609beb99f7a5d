//! Samples at rest are made inert: deflate-compressed, then XOR-ed with a
//! fixed key, behind a short header. No byte of the original survives on
//! disk, so the host's own antivirus does not quarantine the store behind
//! our back, and a double-click on a stored file opens nothing. This is
//! defanging, not secrecy: the key is fixed and public.

use flate2::Compression;
use flate2::read::DeflateDecoder;
use flate2::write::DeflateEncoder;
use std::io::{self, Read, Write};

/// The first bytes of every stored sample: a name and a format version.
const MAGIC: &[u8; 8] = b"MXGQ\x01\0\r\n";
/// The XOR key (arbitrary; only needs to break every signature).
const KEY: [u8; 16] = [0x5a, 0xc3, 0x91, 0x3e, 0x77, 0x0f, 0xb2, 0x64, 0xe8, 0x1d, 0x4b, 0xa6, 0x29, 0xd0, 0x83, 0x5f];

/// XOR with [`KEY`], continuing the key where the previous call stopped.
struct Xor<T> {
    inner: T,
    at: usize,
}

impl<T> Xor<T> {
    fn apply(&mut self, bytes: &mut [u8]) {
        for b in bytes {
            *b ^= KEY[self.at % KEY.len()];
            self.at = self.at.wrapping_add(1);
        }
    }
}

impl<W: Write> Write for Xor<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let mut block = [0u8; 8192];
        let n = buf.len().min(block.len());
        block[..n].copy_from_slice(&buf[..n]);
        self.apply(&mut block[..n]);
        self.inner.write_all(&block[..n])?;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

impl<R: Read> Read for Xor<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.apply(&mut buf[..n]);
        Ok(n)
    }
}

/// Writes a sample in the inert form to `W`.
pub struct InertWriter<W: Write>(DeflateEncoder<Xor<W>>);

impl<W: Write> InertWriter<W> {
    /// Start the stored form (the header is written now).
    pub fn new(mut out: W) -> io::Result<InertWriter<W>> {
        out.write_all(MAGIC)?;
        Ok(InertWriter(DeflateEncoder::new(Xor { inner: out, at: 0 }, Compression::fast())))
    }

    /// Write the end of the compressed stream and hand back the output.
    pub fn finish(self) -> io::Result<W> {
        Ok(self.0.finish()?.inner)
    }
}

impl<W: Write> Write for InertWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.0.flush()
    }
}

/// The original bytes of a stored sample read from `input`.
pub fn reader<R: Read>(mut input: R) -> io::Result<impl Read> {
    let mut magic = [0u8; MAGIC.len()];
    input.read_exact(&mut magic)?;
    if &magic != MAGIC {
        return Err(io::Error::new(io::ErrorKind::InvalidData, "not a stored quarantine sample"));
    }
    Ok(DeflateDecoder::new(Xor { inner: input, at: 0 }))
}

#[cfg(test)]
mod tests {
    use super::*;

    const EICAR: &[u8] = br"X5O!P%@AP[4\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*";

    #[test]
    fn round_trip_leaves_nothing_of_the_original_on_disk() {
        let mut w = InertWriter::new(Vec::new()).unwrap();
        for chunk in EICAR.chunks(7) {
            w.write_all(chunk).unwrap();
        }
        let stored = w.finish().unwrap();
        assert!(stored.starts_with(MAGIC));
        assert!(!stored.windows(5).any(|s| s == b"EICAR"), "the signature must not survive");
        let mut back = Vec::new();
        reader(&stored[..]).unwrap().read_to_end(&mut back).unwrap();
        assert_eq!(back, EICAR);
    }

    #[test]
    fn a_foreign_file_is_refused() {
        assert!(reader(&b"MZ\x90\0 not ours"[..]).is_err());
        assert!(reader(&b""[..]).is_err());
    }
}
