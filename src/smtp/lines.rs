//! Reading CRLF-terminated lines with a length cap, for both sides of SMTP:
//! a client that never sends a newline costs us at most `max` bytes.

use tokio::io::{AsyncBufRead, AsyncBufReadExt};

/// One line read from the peer.
#[derive(Debug, PartialEq, Eq)]
pub enum Line {
    /// The line without its CRLF (or bare LF).
    Text(Vec<u8>),
    /// Longer than the cap; the rest up to the newline was discarded.
    TooLong,
    /// The peer closed the connection.
    Eof,
}

/// Read one line of at most `max` bytes.
pub async fn read_line<R: AsyncBufRead + Unpin>(r: &mut R, max: usize) -> std::io::Result<Line> {
    let mut line = Vec::new();
    let mut too_long = false;
    loop {
        let buf = r.fill_buf().await?;
        if buf.is_empty() {
            return Ok(Line::Eof);
        }
        let (take, done) = match buf.iter().position(|&b| b == b'\n') {
            Some(i) => (i + 1, true),
            None => (buf.len(), false),
        };
        if !too_long {
            line.extend_from_slice(&buf[..take]);
            if line.len() > max {
                too_long = true;
                line = Vec::new();
            }
        }
        r.consume(take);
        if done {
            if too_long {
                return Ok(Line::TooLong);
            }
            line.pop();
            if line.last() == Some(&b'\r') {
                line.pop();
            }
            return Ok(Line::Text(line));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn lines_and_limits() {
        let mut input: &[u8] = b"EHLO x\r\nNOOP\n".as_slice();
        assert_eq!(read_line(&mut input, 100).await.unwrap(), Line::Text(b"EHLO x".to_vec()));
        assert_eq!(read_line(&mut input, 100).await.unwrap(), Line::Text(b"NOOP".to_vec()));
        assert_eq!(read_line(&mut input, 100).await.unwrap(), Line::Eof);
        let long = [vec![b'a'; 50], b"\r\nQUIT\r\n".to_vec()].concat();
        let mut input = long.as_slice();
        assert_eq!(read_line(&mut input, 10).await.unwrap(), Line::TooLong);
        assert_eq!(read_line(&mut input, 10).await.unwrap(), Line::Text(b"QUIT".to_vec()));
    }
}
