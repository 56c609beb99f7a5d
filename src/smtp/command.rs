//! Parsing one SMTP command line (RFC 5321 §4.1) into a typed command. Pure
//! and total: any byte string gives a command or a parse error, never a
//! panic (this is the fuzz target).

/// A parsed envelope address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Path {
    /// `<>`: the null reverse path of bounces.
    Null,
    Mailbox(Mailbox),
}

/// `local@domain` (or a domain-less `postmaster`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mailbox {
    pub local: String,
    /// Lower-cased domain or `[address literal]`; empty only for `postmaster`.
    pub domain: String,
}

impl Mailbox {
    /// The address as written in an envelope, without angle brackets.
    pub fn address(&self) -> String {
        if self.domain.is_empty() { self.local.clone() } else { format!("{}@{}", self.local, self.domain) }
    }

    /// True if any part needs SMTPUTF8.
    pub fn is_utf8(&self) -> bool {
        !self.local.is_ascii() || !self.domain.is_ascii()
    }
}

impl Path {
    /// The address without brackets; empty for the null path.
    pub fn address(&self) -> String {
        match self {
            Path::Null => String::new(),
            Path::Mailbox(m) => m.address(),
        }
    }
}

/// An ESMTP parameter `KEYWORD[=value]`; the keyword is upper-cased.
pub type Param = (String, Option<String>);

/// One client command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    Helo(String),
    Ehlo(String),
    Mail { path: Path, params: Vec<Param> },
    Rcpt { path: Mailbox, params: Vec<Param> },
    Data,
    Bdat { size: u64, last: bool },
    Rset,
    Noop,
    Quit,
    Vrfy,
    Expn,
    Help,
    StartTls,
}

/// Why a line is not a usable command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ParseError {
    /// The verb is not one we know: `500 5.5.2`.
    Unknown,
    /// Known verb, bad arguments: `501 5.5.4` with this reason.
    Syntax(&'static str),
    /// Not valid UTF-8: `500 5.5.2`.
    Encoding,
}

/// Parse one command line, CRLF already removed.
pub fn parse(line: &[u8]) -> Result<Command, ParseError> {
    let line = std::str::from_utf8(line).map_err(|_| ParseError::Encoding)?;
    let (verb, rest) = match line.find(' ') {
        Some(i) => (&line[..i], &line[i + 1..]),
        None => (line, ""),
    };
    let arg = rest.trim();
    match verb.to_ascii_uppercase().as_str() {
        "HELO" => domain_arg(arg).map(Command::Helo),
        "EHLO" => domain_arg(arg).map(Command::Ehlo),
        "MAIL" => {
            let rest = strip_keyword(rest, "FROM:").ok_or(ParseError::Syntax("Syntax: MAIL FROM:<address>"))?;
            let (path, params) = path_and_params(rest)?;
            let path = match path {
                None => Path::Null,
                Some(m) => Path::Mailbox(m),
            };
            Ok(Command::Mail { path, params })
        }
        "RCPT" => {
            let rest = strip_keyword(rest, "TO:").ok_or(ParseError::Syntax("Syntax: RCPT TO:<address>"))?;
            match path_and_params(rest)? {
                (Some(path), params) => Ok(Command::Rcpt { path, params }),
                (None, _) => Err(ParseError::Syntax("Null recipient address not allowed")),
            }
        }
        "BDAT" => bdat(arg),
        "DATA" => no_arg(arg, Command::Data),
        "RSET" => no_arg(arg, Command::Rset),
        "QUIT" => no_arg(arg, Command::Quit),
        "STARTTLS" => no_arg(arg, Command::StartTls),
        "NOOP" => Ok(Command::Noop),
        "VRFY" => Ok(Command::Vrfy),
        "EXPN" => Ok(Command::Expn),
        "HELP" => Ok(Command::Help),
        _ => Err(ParseError::Unknown),
    }
}

fn no_arg(arg: &str, cmd: Command) -> Result<Command, ParseError> {
    if arg.is_empty() { Ok(cmd) } else { Err(ParseError::Syntax("Syntax: no parameters allowed")) }
}

fn domain_arg(arg: &str) -> Result<String, ParseError> {
    match arg.split_whitespace().next() {
        Some(d) if !d.chars().any(char::is_control) => Ok(d.to_string()),
        _ => Err(ParseError::Syntax("Syntax: EHLO/HELO hostname")),
    }
}

fn bdat(arg: &str) -> Result<Command, ParseError> {
    let mut words = arg.split_ascii_whitespace();
    let size = words
        .next()
        .and_then(|w| (w.bytes().all(|b| b.is_ascii_digit()) && w.len() <= 18).then(|| w.parse::<u64>().ok())?)
        .ok_or(ParseError::Syntax("Syntax: BDAT size [LAST]"))?;
    let last = match words.next() {
        None => false,
        Some(w) if w.eq_ignore_ascii_case("LAST") => true,
        Some(_) => return Err(ParseError::Syntax("Syntax: BDAT size [LAST]")),
    };
    if words.next().is_some() {
        return Err(ParseError::Syntax("Syntax: BDAT size [LAST]"));
    }
    Ok(Command::Bdat { size, last })
}

/// Case-insensitive `FROM:` / `TO:` prefix, tolerating a space before the
/// address as many clients send it.
fn strip_keyword<'a>(rest: &'a str, keyword: &str) -> Option<&'a str> {
    let head = rest.get(..keyword.len())?;
    head.eq_ignore_ascii_case(keyword).then(|| rest[keyword.len()..].trim_start())
}

/// `<address> PARAM=value ...` → (mailbox or null, params).
fn path_and_params(s: &str) -> Result<(Option<Mailbox>, Vec<Param>), ParseError> {
    let (inner, rest) = if let Some(after) = s.strip_prefix('<') {
        let end = closing_bracket(after).ok_or(ParseError::Syntax("Syntax: missing '>' after address"))?;
        (&after[..end], &after[end + 1..])
    } else {
        // Bare address without brackets, as some old clients send.
        match s.find(' ') {
            Some(i) => (&s[..i], &s[i..]),
            None => (s, ""),
        }
    };
    if !rest.is_empty() && !rest.starts_with(' ') {
        return Err(ParseError::Syntax("Syntax: garbage after address"));
    }
    let path = if inner.is_empty() { None } else { Some(mailbox(inner)?) };
    let mut params = Vec::new();
    for word in rest.split(' ').filter(|w| !w.is_empty()) {
        let (k, v) = match word.split_once('=') {
            Some((k, v)) => (k, Some(v.to_string())),
            None => (word, None),
        };
        if k.is_empty() || !k.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') {
            return Err(ParseError::Syntax("Syntax: bad parameter"));
        }
        params.push((k.to_ascii_uppercase(), v));
    }
    Ok((path, params))
}

/// Index of the `>` that closes the path, skipping quoted local parts.
fn closing_bracket(s: &str) -> Option<usize> {
    let mut quoted = false;
    let mut escaped = false;
    for (i, c) in s.char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' if quoted => escaped = true,
            '"' => quoted = !quoted,
            '>' if !quoted => return Some(i),
            _ => {}
        }
    }
    None
}

fn mailbox(s: &str) -> Result<Mailbox, ParseError> {
    // An obsolete source route `@a,@b:user@d` is ignored (RFC 5321 §4.1.2).
    let s = match s.strip_prefix('@') {
        Some(route) => route.split_once(':').ok_or(ParseError::Syntax("Syntax: bad source route"))?.1,
        None => s,
    };
    if s.chars().any(|c| c.is_control() || c == ' ' && !s.starts_with('"')) {
        return Err(ParseError::Syntax("Syntax: bad character in address"));
    }
    let Some(at) = s.rfind('@') else {
        return if s.eq_ignore_ascii_case("postmaster") {
            Ok(Mailbox { local: s.to_string(), domain: String::new() })
        } else {
            Err(ParseError::Syntax("Syntax: address needs a domain"))
        };
    };
    let (local, domain) = (&s[..at], &s[at + 1..]);
    if local.is_empty() || local.len() > 64 * 4 || !valid_domain(domain) {
        return Err(ParseError::Syntax("Syntax: bad address"));
    }
    Ok(Mailbox { local: local.to_string(), domain: domain.to_lowercase() })
}

fn valid_domain(d: &str) -> bool {
    if let Some(lit) = d.strip_prefix('[') {
        return lit.ends_with(']') && lit.len() > 1;
    }
    !d.is_empty()
        && d.len() <= 255
        && d.split('.').all(|label| {
            !label.is_empty() && label.chars().all(|c| c.is_alphanumeric() || c == '-' || c == '_' || !c.is_ascii())
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mbox(local: &str, domain: &str) -> Mailbox {
        Mailbox { local: local.into(), domain: domain.into() }
    }

    #[test]
    fn mail_and_rcpt() {
        assert_eq!(
            parse(b"MAIL FROM:<a@Example.COM> SIZE=100 body=8bitmime").unwrap(),
            Command::Mail {
                path: Path::Mailbox(mbox("a", "example.com")),
                params: vec![("SIZE".into(), Some("100".into())), ("BODY".into(), Some("8bitmime".into()))],
            }
        );
        assert_eq!(parse(b"mail from: <>").unwrap(), Command::Mail { path: Path::Null, params: vec![] });
        assert_eq!(
            parse(b"RCPT TO:<@relay.example:b@example.com> NOTIFY=SUCCESS,FAILURE").unwrap(),
            Command::Rcpt {
                path: mbox("b", "example.com"),
                params: vec![("NOTIFY".into(), Some("SUCCESS,FAILURE".into()))],
            }
        );
        assert_eq!(
            parse(b"RCPT TO:<Postmaster>").unwrap(),
            Command::Rcpt { path: mbox("Postmaster", ""), params: vec![] }
        );
        assert_eq!(
            parse(b"RCPT TO:<\"odd > name\"@example.com>").unwrap(),
            Command::Rcpt { path: mbox("\"odd > name\"", "example.com"), params: vec![] }
        );
        assert_eq!(
            parse("RCPT TO:<jörg@bücher.de>".as_bytes()).unwrap(),
            Command::Rcpt { path: mbox("jörg", "bücher.de"), params: vec![] }
        );
    }

    #[test]
    fn syntax_errors() {
        for bad in [
            &b"MAIL FROM<a@b.c>"[..],
            b"MAIL FROM:<a@b.c",
            b"MAIL FROM:<a@b.c>junk",
            b"RCPT TO:<>",
            b"RCPT TO:<user>",
            b"RCPT TO:<a@>",
            b"RCPT TO:<a@b..c>",
            b"BDAT",
            b"BDAT x",
            b"BDAT 10 FIRST",
            b"DATA now",
            b"EHLO",
            b"MAIL FROM:<a@b.c> =x",
        ] {
            assert!(matches!(parse(bad), Err(ParseError::Syntax(_))), "{}", String::from_utf8_lossy(bad));
        }
        assert_eq!(parse(b"FOOBAR"), Err(ParseError::Unknown));
        assert_eq!(parse(b"\xff\xfe"), Err(ParseError::Encoding));
    }

    #[test]
    fn bdat_and_simple_verbs() {
        assert_eq!(parse(b"BDAT 1000 LAST").unwrap(), Command::Bdat { size: 1000, last: true });
        assert_eq!(parse(b"bdat 0").unwrap(), Command::Bdat { size: 0, last: false });
        assert_eq!(parse(b"ehlo client.example").unwrap(), Command::Ehlo("client.example".into()));
        assert_eq!(parse(b"StartTLS").unwrap(), Command::StartTls);
        assert_eq!(parse(b"NOOP anything").unwrap(), Command::Noop);
    }

    #[test]
    fn never_panics_on_odd_input() {
        for s in
            ["MAIL FROM:<@>", "RCPT TO:<@:>", "MAIL FROM:<\">", "RCPT TO:<[>", "MAIL FROM:<a@[]>", "RCPT TO:é", "MAIL"]
        {
            let _ = parse(s.as_bytes());
        }
    }
}
