//! SMTP replies: a code, an enhanced status code (RFC 3463) on every line,
//! and human text.

use std::fmt;

/// One (possibly multi-line) SMTP reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    pub code: u16,
    /// Enhanced status such as "5.7.1"; `None` only for the greeting and
    /// the EHLO reply, which RFC 2034 leaves without one.
    pub status: Option<&'static str>,
    pub lines: Vec<String>,
}

impl Reply {
    /// A one-line reply with an enhanced status code.
    pub fn new(code: u16, status: &'static str, text: impl Into<String>) -> Reply {
        Reply { code, status: Some(status), lines: vec![text.into()] }
    }

    /// A reply whose lines carry no enhanced status (greeting, EHLO).
    pub fn plain(code: u16, lines: Vec<String>) -> Reply {
        Reply { code, status: None, lines }
    }

    /// True for 2xx and 3xx replies.
    pub fn is_positive(&self) -> bool {
        self.code < 400
    }

    /// The first line with code and status, for events and logs.
    pub fn summary(&self) -> String {
        let first = self.lines.first().map(String::as_str).unwrap_or_default();
        match self.status {
            Some(status) => format!("{} {status} {first}", self.code),
            None => format!("{} {first}", self.code),
        }
    }

    /// The reply as sent on the wire, CRLF-terminated lines.
    pub fn to_wire(&self) -> Vec<u8> {
        self.to_string().into_bytes()
    }
}

impl fmt::Display for Reply {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let last = self.lines.len().saturating_sub(1);
        for (i, line) in self.lines.iter().enumerate() {
            let sep = if i == last { ' ' } else { '-' };
            match self.status {
                Some(s) => write!(f, "{}{}{} {}\r\n", self.code, sep, s, line)?,
                None => write!(f, "{}{}{}\r\n", self.code, sep, line)?,
            }
        }
        if self.lines.is_empty() {
            write!(f, "{} \r\n", self.code)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::Reply;

    #[test]
    fn wire_format() {
        assert_eq!(Reply::new(250, "2.1.0", "Ok").to_string(), "250 2.1.0 Ok\r\n");
        let r = Reply::plain(250, vec!["mx".into(), "PIPELINING".into()]);
        assert_eq!(r.to_string(), "250-mx\r\n250 PIPELINING\r\n");
        let r = Reply { code: 550, status: Some("5.7.1"), lines: vec!["a".into(), "b".into()] };
        assert_eq!(r.to_string(), "550-5.7.1 a\r\n550 5.7.1 b\r\n");
    }
}
