//! Message content (DATA or a BDAT chunk) as it goes by, turned into log
//! lines by the `data` setting: none, one line of counts, or every line.

use crate::config::DataMode;

/// An echoed line is cut after this many bytes (RFC 5322 allows 998), so
/// a client that never sends a newline cannot grow the log line unbounded.
const MAX_ECHO_LINE: usize = 1000;

/// The content seen since the last block ended.
pub(super) struct Content {
    mode: DataMode,
    lines: u64,
    bytes: u64,
    /// Summarize mode: the last byte seen was not a newline.
    open: bool,
    /// Echo mode: the start of a line whose end has not arrived yet.
    partial: Vec<u8>,
    /// Echo mode: `partial` was cut at [`MAX_ECHO_LINE`].
    cut: bool,
}

impl Content {
    pub(super) fn new(mode: DataMode) -> Content {
        Content { mode, lines: 0, bytes: 0, open: false, partial: Vec::new(), cut: false }
    }

    /// Take content bytes as sent on the wire (dot-stuffed, with CRLFs);
    /// in echo mode `emit` gets each completed line, without its CRLF.
    pub(super) fn feed(&mut self, bytes: &[u8], mut emit: impl FnMut(&[u8])) {
        match self.mode {
            DataMode::Ignore => {}
            DataMode::Summarize => {
                self.bytes += bytes.len() as u64;
                self.lines += memchr::memchr_iter(b'\n', bytes).count() as u64;
                if let Some(&last) = bytes.last() {
                    self.open = last != b'\n';
                }
            }
            DataMode::Echo => {
                for piece in bytes.split_inclusive(|&b| b == b'\n') {
                    let text = piece.strip_suffix(b"\n").map_or(piece, |t| t.strip_suffix(b"\r").unwrap_or(t));
                    let room = MAX_ECHO_LINE.saturating_sub(self.partial.len());
                    self.cut |= text.len() > room;
                    self.partial.extend_from_slice(&text[..text.len().min(room)]);
                    if piece.ends_with(b"\n") {
                        self.emit_line(&mut emit);
                    }
                }
            }
        }
    }

    /// The block ended: in summarize mode `emit` gets the counts (a last
    /// line without CRLF counts as a line), in echo mode the unfinished
    /// last line; then the counts start again.
    pub(super) fn end(&mut self, mut emit: impl FnMut(&[u8])) {
        match self.mode {
            DataMode::Ignore => {}
            DataMode::Summarize => {
                let lines = self.lines + u64::from(self.open);
                emit(format!("[content: {lines} lines, {} bytes]", self.bytes).as_bytes());
                (self.lines, self.bytes, self.open) = (0, 0, false);
            }
            DataMode::Echo if !self.partial.is_empty() => self.emit_line(&mut emit),
            DataMode::Echo => {}
        }
    }

    fn emit_line(&mut self, emit: &mut impl FnMut(&[u8])) {
        if self.partial.last() == Some(&b'\r') {
            self.partial.pop(); // a CR that came at the end of the previous piece
        }
        if std::mem::take(&mut self.cut) {
            self.partial.extend_from_slice(b" [...]");
        }
        emit(&self.partial);
        self.partial.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(mode: DataMode, pieces: &[&[u8]]) -> Vec<String> {
        let mut out = Vec::new();
        let mut c = Content::new(mode);
        let mut push = |l: &[u8]| out.push(String::from_utf8_lossy(l).into_owned());
        for p in pieces {
            c.feed(p, &mut push);
        }
        c.end(&mut push);
        out
    }

    #[test]
    fn ignore_shows_nothing() {
        assert!(run(DataMode::Ignore, &[b"Subject: x\r\n\r\nhi\r\n.\r\n"]).is_empty());
    }

    #[test]
    fn summarize_counts_lines_and_bytes_across_pieces() {
        assert_eq!(
            run(DataMode::Summarize, &[b"Subject: x\r", b"\n\r\nhi\r\n.\r\n"]),
            ["[content: 4 lines, 21 bytes]"]
        );
        assert_eq!(run(DataMode::Summarize, &[b"abc\r\nno newline"]), ["[content: 2 lines, 15 bytes]"]);
        assert_eq!(run(DataMode::Summarize, &[]), ["[content: 0 lines, 0 bytes]"]);
    }

    #[test]
    fn summaries_restart_per_block() {
        let mut out = Vec::new();
        let mut c = Content::new(DataMode::Summarize);
        c.feed(b"a\r\nb\r\n", |_| {});
        c.end(|l| out.push(l.to_vec()));
        c.feed(b"cc", |_| {});
        c.end(|l| out.push(l.to_vec()));
        assert_eq!(out, [b"[content: 2 lines, 6 bytes]".to_vec(), b"[content: 1 lines, 2 bytes]".to_vec()]);
    }

    #[test]
    fn echo_joins_lines_split_across_pieces_and_cuts_long_ones() {
        assert_eq!(run(DataMode::Echo, &[b"Subj", b"ect: x\r\n\r\nh", b"i\r\n.\r\n"]), ["Subject: x", "", "hi", "."]);
        assert_eq!(run(DataMode::Echo, &[b"last"]), ["last"]);
        let long = vec![b'a'; 5000];
        let out = run(DataMode::Echo, &[&long, &long, b"\r\nnext\r\n"]);
        assert_eq!(out.len(), 2);
        assert_eq!(out[0], format!("{} [...]", "a".repeat(MAX_ECHO_LINE)));
        assert_eq!(out[1], "next");
        let exact = [vec![b'b'; MAX_ECHO_LINE], b"\r\n".to_vec()].concat();
        assert_eq!(run(DataMode::Echo, &[&exact]), ["b".repeat(MAX_ECHO_LINE)]);
    }
}
