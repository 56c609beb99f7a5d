//! The one way this gateway parses MIME. mail-parser checks some of its own
//! invariants with debug assertions that hostile input can trip (found by
//! fuzzing); a message the parser cannot get through is malformed MIME —
//! unprocessable — not a crash of the gateway.

use mail_parser::{Message, MessageParser};
use std::panic::{AssertUnwindSafe, catch_unwind};

/// `raw` parsed, or `None` if it is not a message the parser can read.
pub fn parse(raw: &[u8]) -> Option<Message<'_>> {
    catch_unwind(AssertUnwindSafe(|| MessageParser::default().parse(raw))).ok().flatten()
}

#[cfg(test)]
mod tests {
    #[test]
    fn messages_parse_and_garbage_is_none() {
        assert_eq!(
            super::parse(b"Subject: hi\r\n\r\nbody").and_then(|m| m.subject().map(str::to_string)).as_deref(),
            Some("hi")
        );
        assert!(super::parse(b"").is_none());
    }

    /// Found by the `decompose` fuzz target: trips a debug assertion inside
    /// mail-parser 0.11.9 ("Invalid part ID, could not find multipart").
    #[test]
    fn a_parser_assertion_is_not_a_crash() {
        let input = b"Content-Type: multipart/\r; boundary=b\n\r\n\xff--b\r\nContent-Type:message/rfc822\r\n\r\n\
                      Content-Type:message/rfc822\r\n\r\n\r\n--b--\r\n";
        let _ = super::parse(input);
        let parts = crate::mime::decompose(input, &crate::config::ContainerRule::default());
        assert!(parts.violation.is_none());
    }
}
