//! Message content as it arrives: the DATA dot-terminator and unstuffing,
//! and the checks SPEC §2 makes at the SMTP level (size, NUL, bare CR / bare
//! LF in header lines). Pure byte state machines, fed in whatever pieces
//! the socket delivers.

/// Why a received message is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Violation {
    TooLarge,
    Nul,
    BareLineEnd,
}

/// Collects message bytes and checks them as they come.
#[derive(Debug)]
pub struct BodyWriter {
    max: usize,
    buf: Vec<u8>,
    prev: u8,
    in_header: bool,
    /// True right after a header line's CRLF: an empty line ends the header.
    header_line_start: bool,
    violation: Option<Violation>,
}

impl BodyWriter {
    /// A writer that refuses more than `max` bytes.
    pub fn new(max: usize) -> BodyWriter {
        BodyWriter {
            max,
            buf: Vec::with_capacity(16 * 1024),
            prev: b'\n',
            in_header: true,
            header_line_start: true,
            violation: None,
        }
    }

    /// Bytes received so far (counted even after a size violation).
    pub fn len(&self) -> usize {
        self.buf.len()
    }

    /// True before any byte arrived.
    pub fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }

    /// Append message bytes (already unstuffed). Header bytes are checked
    /// one by one; the body moves a line at a time.
    pub fn push(&mut self, mut bytes: &[u8]) {
        while let Some((&first, rest)) = bytes.split_first() {
            if self.violation.is_some() {
                return;
            }
            if self.in_header {
                self.push_header_byte(first);
                bytes = rest;
                continue;
            }
            let run = memchr::memchr(b'\n', bytes).map_or(bytes.len(), |i| i + 1);
            let (line, rest) = bytes.split_at(run);
            self.push_body(line);
            bytes = rest;
        }
    }

    fn push_header_byte(&mut self, b: u8) {
        if b == 0 {
            return self.refuse(Violation::Nul);
        }
        if self.prev == b'\r' && b != b'\n' || b == b'\n' && self.prev != b'\r' {
            return self.refuse(Violation::BareLineEnd);
        }
        if b == b'\n' {
            if self.header_line_start {
                self.in_header = false;
            }
            self.header_line_start = true;
        } else if b != b'\r' {
            self.header_line_start = false;
        }
        self.store(&[b]);
        self.prev = b;
    }

    /// Body bytes up to and including at most one LF (at the end). A bare
    /// LF becomes CRLF, so no downstream parser can read a different line
    /// structure than we did (SMTP smuggling).
    fn push_body(&mut self, line: &[u8]) {
        if memchr::memchr(0, line).is_some() {
            return self.refuse(Violation::Nul);
        }
        let Some((&last, head)) = line.split_last() else { return };
        let before_last = head.last().copied().unwrap_or(self.prev);
        if last == b'\n' && before_last != b'\r' {
            self.store(head);
            self.store(b"\r\n");
        } else {
            self.store(line);
        }
        self.prev = last;
    }

    fn store(&mut self, bytes: &[u8]) {
        if self.buf.len() + bytes.len() > self.max {
            return self.refuse(Violation::TooLarge);
        }
        self.buf.extend_from_slice(bytes);
    }

    fn refuse(&mut self, v: Violation) {
        self.violation = Some(v);
        self.buf = Vec::new();
    }

    /// The whole message, or why it is refused. A header that never ended
    /// with a CR still pending counts as a bare CR.
    pub fn finish(mut self) -> Result<Vec<u8>, Violation> {
        if self.violation.is_none() && self.in_header && self.prev == b'\r' {
            self.violation = Some(Violation::BareLineEnd);
        }
        match self.violation {
            Some(v) => Err(v),
            None => Ok(self.buf),
        }
    }
}

/// Where the DATA decoder is within a line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// At the start of a line; `after_crlf` tells whether the previous line
    /// ended with CRLF (only then can `.CRLF` end the data).
    LineStart {
        after_crlf: bool,
    },
    Dot {
        after_crlf: bool,
    },
    DotCr {
        after_crlf: bool,
    },
    Middle,
    Cr,
}

/// Decodes the DATA stream: removes dot-stuffing and finds `CRLF.CRLF`.
#[derive(Debug)]
pub struct DotDecoder {
    state: State,
}

impl Default for DotDecoder {
    fn default() -> Self {
        DotDecoder { state: State::LineStart { after_crlf: true } }
    }
}

impl DotDecoder {
    /// Feed received bytes. Returns `Some(n)` when the terminator ends
    /// within `input` after `n` bytes; what follows belongs to the next
    /// (pipelined) command.
    pub fn feed(&mut self, input: &[u8], out: &mut BodyWriter) -> Option<usize> {
        let mut i = 0;
        while let Some(&b) = input.get(i) {
            if self.state == State::Middle {
                // Inside a line nothing is special until CR or LF: pass the run on whole.
                let run = memchr::memchr2(b'\r', b'\n', &input[i..]).unwrap_or(input.len() - i);
                if run > 0 {
                    out.push(&input[i..i + run]);
                    i += run;
                    continue;
                }
            }
            i += 1;
            self.state = match (self.state, b) {
                (State::LineStart { after_crlf }, b'.') => State::Dot { after_crlf },
                (State::LineStart { .. } | State::Middle, _) => self.plain(b, out),
                (State::Dot { after_crlf }, b'\r') => State::DotCr { after_crlf },
                (State::Dot { .. }, _) => self.plain(b, out),
                (State::DotCr { after_crlf: true }, b'\n') => return Some(i),
                (State::DotCr { .. }, b'\n') => {
                    out.push(b"\r\n");
                    State::LineStart { after_crlf: true }
                }
                (State::DotCr { .. }, _) => {
                    out.push(b"\r");
                    self.plain(b, out)
                }
                (State::Cr, b'\n') => {
                    out.push(b"\r\n");
                    State::LineStart { after_crlf: true }
                }
                (State::Cr, _) => {
                    out.push(b"\r");
                    self.plain(b, out)
                }
            };
        }
        None
    }

    fn plain(&self, b: u8, out: &mut BodyWriter) -> State {
        match b {
            b'\r' => State::Cr,
            b'\n' => {
                out.push(b"\n");
                State::LineStart { after_crlf: false }
            }
            _ => {
                out.push(&[b]);
                State::Middle
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode(pieces: &[&[u8]]) -> (Result<Vec<u8>, Violation>, Option<Vec<u8>>) {
        let mut d = DotDecoder::default();
        let mut w = BodyWriter::new(1000);
        for (k, p) in pieces.iter().enumerate() {
            if let Some(n) = d.feed(p, &mut w) {
                let mut rest = p[n..].to_vec();
                for later in &pieces[k + 1..] {
                    rest.extend_from_slice(later);
                }
                return (w.finish(), Some(rest));
            }
        }
        (w.finish(), None)
    }

    #[test]
    fn terminator_and_unstuffing() {
        let (body, rest) = decode(&[b"Subject: x\r\n\r\n..leading dot\r\nend\r\n.\r\nQUIT\r\n"]);
        assert_eq!(body.unwrap(), b"Subject: x\r\n\r\n.leading dot\r\nend\r\n");
        assert_eq!(rest.unwrap(), b"QUIT\r\n");
    }

    #[test]
    fn terminator_split_across_reads() {
        let (body, rest) = decode(&[b"A: b\r\n\r\nhi\r", b"\n.", b"\r", b"\nNOOP"]);
        assert_eq!(body.unwrap(), b"A: b\r\n\r\nhi\r\n");
        assert_eq!(rest.unwrap(), b"NOOP");
    }

    #[test]
    fn empty_message() {
        let (body, rest) = decode(&[b".\r\n"]);
        assert_eq!(body.unwrap(), b"");
        assert_eq!(rest.unwrap(), b"");
    }

    #[test]
    fn bare_lf_dot_is_not_a_terminator() {
        // Smuggling attempt: "\n.\r\n" must not end the data.
        let (_, rest) = decode(&[b"A: b\r\n\r\nx\n.\r\nMAIL FROM:<evil@x>\r\n"]);
        assert_eq!(rest, None);
        let (body, rest) = decode(&[b"A: b\r\n\r\nx\n.\r\nsmuggled\r\n.\r\n"]);
        assert_eq!(body.unwrap(), b"A: b\r\n\r\nx\r\n\r\nsmuggled\r\n");
        assert_eq!(rest.unwrap(), b"");
    }

    #[test]
    fn header_violations() {
        assert_eq!(decode(&[b"A: b\nB: c\r\n\r\nx\r\n.\r\n"]).0, Err(Violation::BareLineEnd));
        assert_eq!(decode(&[b"A: b\rB: c\r\n\r\nx\r\n.\r\n"]).0, Err(Violation::BareLineEnd));
        assert_eq!(decode(&[b"A: b\r\n\r\nx\0y\r\n.\r\n"]).0, Err(Violation::Nul));
        // Bare LF in the body is normalised, not refused.
        assert_eq!(decode(&[b"A: b\r\n\r\nx\ny\r\n.\r\n"]).0.unwrap(), b"A: b\r\n\r\nx\r\ny\r\n");
    }

    #[test]
    fn size_limit() {
        let mut w = BodyWriter::new(10);
        w.push(b"A: b\r\n\r\n0123456789");
        assert_eq!(w.finish(), Err(Violation::TooLarge));
    }
}
