//! Logical signatures (`.ldb`):
//! `Name;TargetDescriptionBlock;LogicalExpression;Subsig0;Subsig1;...`.
//!
//! Supported: the target block's `Target`, `Engine` and `FileSize`
//! (other attributes need executable or container context and are
//! refused); expressions with `&`, `|`, parentheses and the counts `A=X`,
//! `A>X`, `A<X` with an optional `,Y` (distinct subsignatures); body
//! subsignatures `[Offset:]HexSig[::Modifiers]` with `i`, `w`, `a` and
//! `f` (not `f` together with `w`). PCRE, byte-compare and macro
//! subsignatures are refused.
//!
//! Semantics, as ClamAV 1.4 evaluates them: `&` and `|` have equal
//! precedence and group to the right (`0&1|2` is `0&(1|2)`); a
//! subsignature's count is its number of match positions (overlapping
//! ones included); a sub-expression that holds counts the sum of its
//! parts' counts and one that does not holds counts zero, so `(0|1)<1`
//! holds when neither matched. `,Y` is ignored on a single subsignature.

use super::flevel_allows;
use super::offset::Offset;
use super::pattern::{Modifiers, Pattern, compile};
use super::target::Target;
use crate::mime::detect::FileType;

/// ClamAV's limit on subsignatures per logical signature.
pub(super) const MAX_SUBSIGS: usize = 64;
/// Deepest nesting of an expression (parentheses and chained operators).
const MAX_DEPTH: usize = 128;
/// Attributes other than `Target` need `Engine` with at least this
/// minimum level, first in the block (ClamAV's backward-compatibility rule).
const NEW_ATTRIBUTES_FLEVEL: u32 = 51;

/// What an `.ldb` line requires of a file.
#[derive(Debug)]
pub(super) struct LogicalSig {
    pub target: Target,
    file_size: Option<(u64, u64)>,
    expr: Expr,
}

/// One body subsignature.
#[derive(Debug)]
pub(super) struct Subsig {
    pub offset: Offset,
    pub fullword: bool,
    /// One per variant (`::wa`, alternatives of different lengths).
    pub patterns: Vec<Pattern>,
}

impl LogicalSig {
    /// Whether the target block admits a file of `len` bytes and type `file`.
    pub fn applies(&self, len: usize, file: FileType) -> bool {
        let len = u64::try_from(len).unwrap_or(u64::MAX);
        self.target.applies_to(file) && self.file_size.is_none_or(|(min, max)| (min..=max).contains(&len))
    }

    /// Whether the expression holds for these subsignature match counts.
    pub fn holds(&self, counts: &[u32]) -> bool {
        self.expr.eval(counts).holds
    }
}

/// Parse one `.ldb` line into its name, the signature and its subsignatures.
pub(super) fn parse_line(line: &str) -> Result<(&str, LogicalSig, Vec<Subsig>), String> {
    let fields: Vec<&str> = line.split(';').collect();
    let [name, tdb, expr, subsigs @ ..] = fields.as_slice() else {
        return Err("expected Name;TargetDescriptionBlock;LogicalExpression;Subsig0...".into());
    };
    if name.is_empty() {
        return Err("empty signature name".into());
    }
    if subsigs.is_empty() || subsigs.len() > MAX_SUBSIGS {
        return Err(format!("between 1 and {MAX_SUBSIGS} subsignatures required"));
    }
    let (target, file_size) = parse_tdb(tdb)?;
    let expr = ExprParser { text: expr.as_bytes(), pos: 0 }.parse()?;
    let referenced = expr.max_index() + 1;
    if referenced != subsigs.len() {
        return Err(format!("the expression refers to {referenced} subsignatures, the line has {}", subsigs.len()));
    }
    let subsigs = subsigs
        .iter()
        .enumerate()
        .map(|(i, s)| parse_subsig(s).map_err(|e| format!("subsignature {i}: {e}")))
        .collect::<Result<_, _>>()?;
    Ok((*name, LogicalSig { target, file_size, expr }, subsigs))
}

fn parse_tdb(tdb: &str) -> Result<(Target, Option<(u64, u64)>), String> {
    let mut target = None;
    let mut file_size = None;
    let mut engine_min = None;
    for (i, attribute) in tdb.split(',').enumerate() {
        let (key, value) = attribute.split_once(':').ok_or_else(|| format!("bad attribute {attribute:?}"))?;
        match key {
            "Engine" if i != 0 => return Err("Engine must be the first attribute".into()),
            "Engine" => {
                let (min, max) = value.split_once('-').ok_or_else(|| format!("bad Engine range {value:?}"))?;
                flevel_allows(Some(min), Some(max))?;
                engine_min = min.parse::<u32>().ok();
            }
            "Target" => target = Some(Target::parse(value)?),
            "FileSize" => file_size = Some(parse_range(value)?),
            "EntryPoint" | "NumberOfSections" | "Container" | "Intermediates" | "IconGroup1" | "IconGroup2"
            | "HandlerType" => {
                return Err(format!("target block attribute {key} not supported"));
            }
            _ => return Err(format!("unknown target block attribute {key:?}")),
        }
        if !matches!(key, "Engine" | "Target") && engine_min.is_none_or(|m| m < NEW_ATTRIBUTES_FLEVEL) {
            return Err(format!("{key} needs Engine:{NEW_ATTRIBUTES_FLEVEL}- or later first in the target block"));
        }
    }
    Ok((target.ok_or("no Target in the target block")?, file_size))
}

fn parse_range(text: &str) -> Result<(u64, u64), String> {
    let number = |s: &str| s.parse::<u64>().map_err(|_| format!("bad range {text:?}"));
    match text.split_once('-') {
        Some((min, max)) => Ok((number(min)?, number(max)?)),
        None => number(text).map(|n| (n, n)),
    }
}

fn parse_subsig(text: &str) -> Result<Subsig, String> {
    if text.contains('/') {
        return Err("PCRE subsignatures not supported".into());
    }
    if text.starts_with("${") {
        return Err("macro subsignatures not supported".into());
    }
    if text.contains('#') {
        return Err("byte-compare subsignatures not supported".into());
    }
    let (body, flags) = text.split_once("::").unwrap_or((text, ""));
    let mut modifiers = Modifiers::default();
    let mut fullword = false;
    for flag in flags.chars() {
        match flag {
            'i' => modifiers.nocase = true,
            'w' => modifiers.wide = true,
            'a' => modifiers.ascii = true,
            'f' => fullword = true,
            other => return Err(format!("unknown modifier {other:?}")),
        }
    }
    if fullword && modifiers.wide {
        return Err("modifier f with w not supported".into());
    }
    let (offset, hex) = match body.split_once(':') {
        Some((offset, hex)) => (Offset::parse(offset)?, hex),
        None => (Offset::Any, body),
    };
    Ok(Subsig { offset, fullword, patterns: compile(hex, modifiers)? })
}

/// A logical expression over subsignature indexes.
#[derive(Debug, PartialEq, Eq)]
enum Expr {
    Sub(usize),
    And(Box<Expr>, Box<Expr>),
    Or(Box<Expr>, Box<Expr>),
    Count { inner: Box<Expr>, cmp: Cmp, count: u64, distinct: Option<u64> },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Cmp {
    Equal,
    Above,
    Below,
}

/// What a sub-expression yields.
#[derive(Clone, Copy, Debug, Default)]
struct Outcome {
    holds: bool,
    count: u64,
    /// Bit per subsignature that matched.
    matched: u64,
}

impl Expr {
    fn max_index(&self) -> usize {
        match self {
            Expr::Sub(i) => *i,
            Expr::And(a, b) | Expr::Or(a, b) => a.max_index().max(b.max_index()),
            Expr::Count { inner, .. } => inner.max_index(),
        }
    }

    fn eval(&self, counts: &[u32]) -> Outcome {
        let outcome = match self {
            Expr::Sub(i) => {
                let count = counts.get(*i).copied().unwrap_or(0);
                let bit = u32::try_from(*i).ok().and_then(|i| 1u64.checked_shl(i)).unwrap_or(0);
                return Outcome { holds: count > 0, count: count.into(), matched: if count > 0 { bit } else { 0 } };
            }
            Expr::And(a, b) | Expr::Or(a, b) => {
                let (a, b) = (a.eval(counts), b.eval(counts));
                let holds = if matches!(self, Expr::And(..)) { a.holds && b.holds } else { a.holds || b.holds };
                Outcome { holds, count: a.count.saturating_add(b.count), matched: a.matched | b.matched }
            }
            Expr::Count { inner, cmp, count, distinct } => {
                let got = inner.eval(counts);
                let count_ok = match cmp {
                    Cmp::Equal => got.count == *count,
                    Cmp::Above => got.count > *count,
                    Cmp::Below => got.count < *count,
                };
                let single = matches!(**inner, Expr::Sub(_));
                let distinct_ok = single || distinct.is_none_or(|d| u64::from(got.matched.count_ones()) >= d);
                Outcome { holds: count_ok && distinct_ok, ..got }
            }
        };
        if outcome.holds { outcome } else { Outcome::default() }
    }
}

struct ExprParser<'a> {
    text: &'a [u8],
    pos: usize,
}

impl ExprParser<'_> {
    fn parse(mut self) -> Result<Expr, String> {
        self.text = self.text.trim_ascii();
        let expr = self.expr(0)?;
        self.skip_spaces();
        match self.text.get(self.pos) {
            None => Ok(expr),
            Some(&c) => Err(format!("unexpected {:?} in logical expression at {}", char::from(c), self.pos)),
        }
    }

    fn skip_spaces(&mut self) {
        while self.text.get(self.pos).is_some_and(u8::is_ascii_whitespace) {
            self.pos += 1;
        }
    }

    fn peek(&mut self) -> Option<u8> {
        self.skip_spaces();
        self.text.get(self.pos).copied()
    }

    /// `term [(&|'|') expr]`: equal precedence, grouping to the right.
    fn expr(&mut self, depth: usize) -> Result<Expr, String> {
        if depth > MAX_DEPTH {
            return Err("logical expression nested too deeply".into());
        }
        let left = self.term(depth)?;
        match self.peek() {
            Some(op @ (b'&' | b'|')) => {
                self.pos += 1;
                let right = Box::new(self.expr(depth + 1)?);
                Ok(if op == b'&' { Expr::And(Box::new(left), right) } else { Expr::Or(Box::new(left), right) })
            }
            _ => Ok(left),
        }
    }

    /// `atom [(=|>|<) count [, distinct]]`.
    fn term(&mut self, depth: usize) -> Result<Expr, String> {
        let atom = self.atom(depth)?;
        let cmp = match self.peek() {
            Some(b'=') => Cmp::Equal,
            Some(b'>') => Cmp::Above,
            Some(b'<') => Cmp::Below,
            _ => return Ok(atom),
        };
        self.pos += 1;
        let count = self.number()?;
        let distinct = if self.peek() == Some(b',') {
            self.pos += 1;
            Some(self.number()?)
        } else {
            None
        };
        Ok(Expr::Count { inner: Box::new(atom), cmp, count, distinct })
    }

    fn atom(&mut self, depth: usize) -> Result<Expr, String> {
        if self.peek() == Some(b'(') {
            self.pos += 1;
            let inner = self.expr(depth + 1)?;
            if self.peek() != Some(b')') {
                return Err("missing ) in logical expression".into());
            }
            self.pos += 1;
            return Ok(inner);
        }
        let index = self.number()?;
        match usize::try_from(index) {
            Ok(i) if i < MAX_SUBSIGS => Ok(Expr::Sub(i)),
            _ => Err(format!("subsignature index {index} out of range")),
        }
    }

    fn number(&mut self) -> Result<u64, String> {
        self.skip_spaces();
        let start = self.pos;
        while self.text.get(self.pos).is_some_and(u8::is_ascii_digit) {
            self.pos += 1;
        }
        let digits = self.text.get(start..self.pos).unwrap_or_default();
        std::str::from_utf8(digits)
            .ok()
            .and_then(|d| d.parse().ok())
            .ok_or_else(|| format!("number expected in logical expression at {start}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn holds(expr: &str, counts: &[u32]) -> bool {
        ExprParser { text: expr.as_bytes(), pos: 0 }.parse().expect("valid expression").eval(counts).holds
    }

    #[test]
    fn and_or_and_grouping() {
        assert!(holds("0&1", &[1, 2]));
        assert!(!holds("0&1", &[1, 0]));
        assert!(holds("0|1", &[0, 2]));
        assert!(!holds("0|1", &[0, 0]));
        assert!(holds("(0|1)&2", &[0, 1, 1]));
        assert!(!holds("(0|1)&2", &[1, 1, 0]));
        assert!(holds(" 0 & 1 ", &[1, 1]));
    }

    #[test]
    fn operators_group_to_the_right() {
        // As ClamAV: 1&2|0 is 1&(2|0), and 0|1&2 is 0|(1&2).
        assert!(!holds("1&2|0", &[3, 0, 0]));
        assert!(holds("0|1&2", &[3, 0, 0]));
    }

    #[test]
    fn counts_of_single_subsignatures() {
        assert!(holds("0=3", &[3]));
        assert!(!holds("0=3", &[4]));
        assert!(holds("0>2", &[3]));
        assert!(!holds("0>3", &[3]));
        assert!(holds("0<3", &[2]));
        assert!(holds("0<1", &[0]), "holds with no match at all");
        assert!(holds("0=0", &[0]));
        assert!(holds("0=3,2", &[3]), "distinct ignored on one subsignature");
    }

    #[test]
    fn counts_of_blocks_sum_only_what_holds() {
        assert!(holds("(0|1)>3", &[3, 4]));
        assert!(!holds("(0|1)=5,2", &[3, 4]));
        assert!(holds("(0|1)=7,2", &[3, 4]));
        assert!(!holds("(0|1)>3,3", &[3, 4]), "only two distinct");
        assert!(!holds("(0&1)>2", &[3, 0]), "a failed & counts zero");
        assert!(holds("(0&1)>2", &[3, 1]));
        assert!(holds("(0&1)<5", &[3, 0]));
        assert!(holds("((0|1)&1)=5", &[3, 1]), "repeated leaves count again");
        assert!(holds("(0|(1&2))=3", &[3, 1, 0]));
        assert!(holds("((0>2)&1)=4", &[3, 1]));
        assert!(!holds("((0>2)&1)=2", &[3, 1]));
    }

    #[test]
    fn malformed_expressions() {
        for bad in ["", "0&", "&0", "0&&1", "(0", "0)", "0=", "0=x", "a", "64", "0=1,", "0 1"] {
            assert!(ExprParser { text: bad.as_bytes(), pos: 0 }.parse().is_err(), "{bad:?}");
        }
        let deep = "(".repeat(500) + "0" + &")".repeat(500);
        assert!(ExprParser { text: deep.as_bytes(), pos: 0 }.parse().is_err());
        let long = vec!["0"; 5000].join("&");
        assert!(ExprParser { text: long.as_bytes(), pos: 0 }.parse().is_err());
    }

    #[test]
    fn lines_and_target_blocks() {
        let (name, sig, subsigs) =
            parse_line("Sig;Engine:51-255,Target:1,FileSize:10-20;0&1;414243;EOF-4:4445::i").expect("valid");
        assert_eq!(name, "Sig");
        assert!(sig.applies(15, FileType::Pe));
        assert!(!sig.applies(15, FileType::Text));
        assert!(!sig.applies(21, FileType::Pe));
        assert_eq!(subsigs[1].offset, Offset::End { back: 4, shift: 0 });
        let (_, _, subsigs) = parse_line("Sig;Target:0;0;414243::wa").expect("valid");
        assert_eq!(subsigs[0].patterns.len(), 2, "ascii and wide");
        assert!(parse_line("Sig;Target:0;0;4142").is_ok(), "two bytes are enough in .ldb");
    }

    #[test]
    fn rejected_lines_say_why() {
        let reason = |line: &str| parse_line(line).err().unwrap_or_default();
        assert!(reason("Sig;Target:0").contains("expected"));
        assert!(reason("Sig;Target:0;0").contains("subsignatures"));
        assert!(reason("Sig;Engine:51-255;0;414243").contains("no Target"));
        assert!(reason("Sig;Target:0,Engine:51-255;0;414243").contains("first"));
        assert!(reason("Sig;Target:0,FileSize:1-9;0;414243").contains("needs Engine"));
        assert!(reason("Sig;Engine:300-400,Target:0;0;414243").contains("functionality level"));
        assert!(reason("Sig;Engine:51-255,Target:0,Container:CL_TYPE_ZIP;0;414243").contains("not supported"));
        assert!(reason("Sig;Target:3;0;414243").contains("target type 3"));
        assert!(reason("Sig;Target:0;0&1;414243").contains("refers to 2"));
        assert!(reason("Sig;Target:0;0;414243;444546").contains("refers to 1"));
        assert!(reason("Sig;Target:0;0;0/abc/i").contains("PCRE"));
        assert!(reason("Sig;Target:0;0;${1-2}0$").contains("macro"));
        assert!(reason("Sig;Target:0;0;0(>>2#ib2#>512)").contains("byte-compare"));
        assert!(reason("Sig;Target:0;0;414243::x").contains("modifier"));
        assert!(reason("Sig;Target:0;0;414243::fw").contains("not supported"));
        assert!(reason("Sig;Target:0;0;41").contains("subsignature 0"));
    }
}
