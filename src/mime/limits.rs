//! The decomposition budget (SPEC §5): one per message, drawn from *while*
//! extracting, so a zip bomb costs at most the configured number of bytes
//! however large it claims to be. Running out is a normal result — a
//! container violation — not an error.

use std::io::Read;
use std::time::{Duration, Instant};

/// Which limit a message hit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LimitHit {
    /// More extracted bytes than `max_extract_mb`.
    Size,
    /// Containers nested deeper than `max_depth`.
    Depth,
    /// More extracted files than `max_files`.
    Files,
    /// A member expands more than `max_ratio` times its compressed size.
    Ratio,
    /// Decomposition took longer than `max_seconds`.
    Time,
    /// Archive entries share their compressed data (an overlapping-entry bomb).
    Overlap,
}

impl LimitHit {
    /// The reason as administrators read it in logs and notifications.
    pub fn describe(self) -> &'static str {
        match self {
            LimitHit::Size => "the attachment expands into too much data",
            LimitHit::Depth => "the extracted attachment depth exceeded set limits",
            LimitHit::Files => "the attachment contains too many files",
            LimitHit::Ratio => "a file in the attachment expands too many times its compressed size",
            LimitHit::Time => "taking the attachment apart took too long",
            LimitHit::Overlap => "archive entries overlap (a decompression bomb)",
        }
    }
}

/// Output below this size is never judged by its ratio: small files of
/// zeros or repeated text legitimately compress very well.
const RATIO_FLOOR: u64 = 1024 * 1024;

/// How much a message's decomposition may still take.
#[derive(Debug, Clone)]
pub struct Budget {
    bytes_left: u64,
    files_left: u64,
    max_depth: usize,
    max_ratio: u64,
    deadline: Instant,
}

impl Budget {
    /// A budget of `max_bytes` extracted bytes, `max_files` files, nesting
    /// up to `max_depth`, expansion up to `max_ratio` (0 = unchecked) and
    /// `max_time` of wall time from now.
    pub fn new(max_bytes: u64, max_depth: usize, max_files: u64, max_ratio: u64, max_time: Duration) -> Budget {
        Budget {
            bytes_left: max_bytes,
            files_left: max_files,
            max_depth,
            max_ratio,
            deadline: Instant::now() + max_time,
        }
    }

    /// A container member at `depth` (1 = directly inside an attachment)
    /// is about to be extracted.
    pub fn enter(&mut self, depth: usize) -> Result<(), LimitHit> {
        if depth > self.max_depth {
            return Err(LimitHit::Depth);
        }
        self.files_left = self.files_left.checked_sub(1).ok_or(LimitHit::Files)?;
        self.check_time()
    }

    /// Fail once the time is up.
    pub fn check_time(&self) -> Result<(), LimitHit> {
        if Instant::now() > self.deadline { Err(LimitHit::Time) } else { Ok(()) }
    }

    /// Extracted bytes still allowed; decoders that must allocate working
    /// memory up front (7z dictionaries) are held to it too.
    pub fn bytes_left(&self) -> u64 {
        self.bytes_left
    }

    /// Draw `n` extracted bytes.
    pub fn take(&mut self, n: u64) -> Result<(), LimitHit> {
        self.bytes_left = self.bytes_left.checked_sub(n).ok_or(LimitHit::Size)?;
        Ok(())
    }

    /// Read a member to its end, drawing every byte from the budget as it
    /// arrives: nothing is allocated from a size the archive declares.
    /// `compressed` is the member's stored size, for the ratio check.
    pub fn read_all(&mut self, mut reader: impl Read, compressed: u64) -> Result<Vec<u8>, ReadError> {
        let mut out = Vec::new();
        let mut chunk = vec![0u8; 64 * 1024];
        loop {
            let n = match reader.read(&mut chunk) {
                Ok(0) => return Ok(out),
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(ReadError::Corrupt(e.to_string())),
            };
            self.take(n as u64)?;
            out.extend_from_slice(&chunk[..n]);
            let size = out.len() as u64;
            if self.max_ratio > 0 && size > RATIO_FLOOR && size / compressed.max(1) > self.max_ratio {
                return Err(LimitHit::Ratio.into());
            }
            self.check_time()?;
        }
    }
}

/// Why a member could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReadError {
    Limit(LimitHit),
    /// The data is damaged or not what it claims to be.
    Corrupt(String),
}

impl From<LimitHit> for ReadError {
    fn from(hit: LimitHit) -> ReadError {
        ReadError::Limit(hit)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn budget(bytes: u64) -> Budget {
        Budget::new(bytes, 3, 2, 100, Duration::from_secs(30))
    }

    #[test]
    fn bytes_are_drawn_while_reading() {
        let mut b = budget(100);
        assert_eq!(b.read_all(&[7u8; 60][..], 60).unwrap().len(), 60);
        assert_eq!(b.read_all(&[7u8; 60][..], 60), Err(ReadError::Limit(LimitHit::Size)));
    }

    #[test]
    fn an_endless_reader_stops_at_the_limit() {
        let mut b = budget(10 * 1024 * 1024);
        let endless = std::io::repeat(0);
        assert_eq!(b.read_all(endless, u64::MAX), Err(ReadError::Limit(LimitHit::Size)));
    }

    #[test]
    fn ratio_applies_above_the_floor_only() {
        let mut b = budget(u64::MAX);
        assert!(b.read_all(&[0u8; 100_000][..], 10).is_ok(), "small files may compress well");
        assert_eq!(b.read_all(std::io::repeat(0).take(5 << 20), 1000), Err(ReadError::Limit(LimitHit::Ratio)));
    }

    #[test]
    fn depth_files_and_time() {
        let mut b = budget(10);
        assert_eq!(b.enter(4), Err(LimitHit::Depth));
        assert!(b.enter(3).is_ok() && b.enter(1).is_ok());
        assert_eq!(b.enter(1), Err(LimitHit::Files));
        let late = Budget::new(10, 3, 2, 100, Duration::ZERO);
        std::thread::sleep(Duration::from_millis(2));
        assert_eq!(late.check_time(), Err(LimitHit::Time));
    }
}
