//! The hex pattern language of ClamAV body signatures (`.ndb` and `.ldb`
//! subsignatures), compiled into [`Pattern`]s: fixed-length segments joined
//! by gaps, which the anchor search and the verifier work on.
//!
//! Syntax: hex byte pairs, `??`, nibbles `a?`/`?a`, `*`, `{n}`, `{-n}`,
//! `{n-}`, `{n-m}`, `[x-y]` next to a single byte at either end, and
//! alternatives `(aa|bb)`, `(aabb|ccdd)`, `(aa|bbcc)` (different lengths),
//! negated `!(aa|bb)` / `!(aabb|ccdd)`. The validity rules follow what
//! ClamAV 1.4 accepts: every part between variable gaps needs two
//! consecutive literal bytes, a pattern cannot begin or end with a variable
//! gap, and only plain bytes can be negated. ClamAV's boundary markers
//! `(B)`, `(L)` and `(W)` are rejected as unsupported.

use std::ops::Range;

/// Most segments one pattern may have; bounds verification work and
/// rejects pathological lines.
const MAX_SEGMENTS: usize = 256;
/// Most variants alternatives of different lengths may expand into.
const MAX_VARIANTS: usize = 64;
/// Longest anchor: beyond this a longer literal adds comparisons, not
/// selectivity (verification checks the whole pattern anyway).
const MAX_ANCHOR: usize = 16;
/// ClamAV's limit for the distance in `aa[x-y]HEXSIG`.
const MAX_ANCHORED_DISTANCE: usize = 32;

/// A set of byte values: single-byte alternatives and their negation.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(super) struct ByteSet([u64; 4]);

impl ByteSet {
    fn insert(&mut self, byte: u8) {
        let (word, bit) = (usize::from(byte >> 6), byte & 63);
        if let Some(w) = self.0.get_mut(word) {
            *w |= 1 << bit;
        }
    }

    fn contains(&self, byte: u8) -> bool {
        let (word, bit) = (usize::from(byte >> 6), byte & 63);
        self.0.get(word).is_some_and(|w| w & (1 << bit) != 0)
    }

    fn complement(&self) -> ByteSet {
        ByteSet(self.0.map(|w| !w))
    }
}

/// One fixed-width element of a segment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum Elem {
    Byte(u8),
    /// Two or more consecutive bytes, as the parser reads them and a
    /// segment keeps them: compact, and compared at once.
    Run(Box<[u8]>),
    /// An ASCII letter in either case (the `i` modifier), kept lower-case.
    Folded(u8),
    Nibble {
        mask: u8,
        value: u8,
    },
    Set(Box<ByteSet>),
    /// `n` bytes of anything: `??` runs and `{n}`.
    Skip(usize),
    /// Alternatives of one length greater than one.
    Strings(Box<Strings>),
}

/// Multi-byte alternatives: one of `options` matches, or with `negated`
/// none does.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct Strings {
    options: Vec<Vec<Elem>>,
    len: usize,
    negated: bool,
}

impl Elem {
    fn len(&self) -> usize {
        match self {
            Elem::Skip(n) => *n,
            Elem::Run(bytes) => bytes.len(),
            Elem::Strings(s) => s.len,
            _ => 1,
        }
    }

    /// `bytes` is exactly `self.len()` long.
    fn matches(&self, bytes: &[u8]) -> bool {
        let first = bytes.first().copied();
        match self {
            Elem::Byte(b) => first == Some(*b),
            Elem::Run(run) => bytes == &run[..],
            Elem::Folded(b) => first.is_some_and(|c| c.to_ascii_lowercase() == *b),
            Elem::Nibble { mask, value } => first.is_some_and(|c| c & mask == *value),
            Elem::Set(set) => first.is_some_and(|c| set.contains(c)),
            Elem::Skip(_) => true,
            Elem::Strings(s) => s.options.iter().any(|o| matches_seq(o, bytes)) != s.negated,
        }
    }

    /// Literal bytes, exact or case-insensitive, are what anchors are
    /// made of.
    fn literal(&self) -> Option<&[u8]> {
        match self {
            Elem::Byte(b) | Elem::Folded(b) => Some(std::slice::from_ref(b)),
            Elem::Run(bytes) => Some(bytes),
            _ => None,
        }
    }
}

/// Whether `elems` match `bytes` from its start.
fn matches_seq(elems: &[Elem], mut bytes: &[u8]) -> bool {
    for elem in elems {
        let Some((head, tail)) = bytes.split_at_checked(elem.len()) else { return false };
        if !elem.matches(head) {
            return false;
        }
        bytes = tail;
    }
    true
}

/// How far apart two segments may be: `max` None is unbounded (`*`, `{n-}`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Gap {
    pub min: usize,
    pub max: Option<usize>,
}

/// A fixed-length run of elements, matched at one position at a time.
#[derive(Debug)]
pub(super) struct Segment {
    elems: Box<[Elem]>,
    len: usize,
    /// The offset and element index of the longest run of exact bytes:
    /// what a window is searched for with memmem before the whole segment
    /// is tested.
    key: Option<(usize, usize)>,
}

impl Segment {
    /// A segment of `elems`, in which consecutive bytes form one
    /// [`Elem::Run`] (see [`SegmentBuilder`]).
    fn new(elems: Box<[Elem]>) -> Segment {
        let len = elems.iter().fold(0usize, |n, e| n.saturating_add(e.len()));
        let mut key: Option<(usize, usize, usize)> = None;
        let mut at = 0usize;
        for (index, elem) in elems.iter().enumerate() {
            if let Elem::Run(run) = elem
                && key.is_none_or(|(.., longest)| run.len() > longest)
            {
                key = Some((at, index, run.len()));
            }
            at = at.saturating_add(elem.len());
        }
        Segment { elems, len, key: key.map(|(at, index, _)| (at, index)) }
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn key(&self) -> Option<(usize, &[u8])> {
        let (at, index) = self.key?;
        match self.elems.get(index)? {
            Elem::Run(run) => Some((at, run)),
            _ => None,
        }
    }

    /// Whether the segment matches `data` at `at`.
    pub fn matches_at(&self, data: &[u8], at: usize) -> bool {
        at.checked_add(self.len)
            .and_then(|end| data.get(at..end))
            .is_some_and(|window| matches_seq(&self.elems, window))
    }
}

/// The elements of the segment being built, consecutive bytes kept as one
/// [`Elem::Run`] and consecutive skips as one.
#[derive(Default)]
struct SegmentBuilder {
    elems: Vec<Elem>,
    run: Vec<u8>,
}

impl SegmentBuilder {
    fn push(&mut self, elem: Elem) {
        match elem {
            Elem::Byte(b) => self.run.push(b),
            Elem::Run(bytes) => self.run.extend_from_slice(&bytes),
            elem => {
                self.end_run();
                match (self.elems.last_mut(), elem) {
                    (Some(Elem::Skip(n)), Elem::Skip(m)) => *n = n.saturating_add(m),
                    (_, elem) => self.elems.push(elem),
                }
            }
        }
    }

    fn end_run(&mut self) {
        if !self.run.is_empty() {
            self.elems.push(Elem::Run(self.run.as_slice().into()));
            self.run.clear();
        }
    }

    /// The segment built so far (allocated to size: a database holds many);
    /// the builder starts the next one.
    fn take(&mut self) -> Segment {
        self.end_run();
        Segment::new(self.elems.drain(..).collect())
    }
}

/// A run of literal bytes inside a segment: its elements, where it starts
/// in the segment and how many bytes it has.
struct Literal {
    elems: Range<usize>,
    offset: usize,
    len: usize,
}

/// The longest run of literal bytes in `elems`, the first of equals.
fn longest_literal(elems: &[Elem]) -> Option<Literal> {
    // (first element, end element, byte offset, length) of the best run,
    // (first element, byte offset, length) of the current one.
    let mut best: Option<(usize, usize, usize, usize)> = None;
    let mut run: Option<(usize, usize, usize)> = None;
    let mut at = 0usize;
    for (i, elem) in elems.iter().enumerate() {
        match elem.literal() {
            Some(bytes) => {
                let (first, offset, len) = run.get_or_insert((i, at, 0));
                *len += bytes.len();
                if best.is_none_or(|(.., longest)| *len > longest) {
                    best = Some((*first, i + 1, *offset, *len));
                }
            }
            None => run = None,
        }
        at = at.saturating_add(elem.len());
    }
    best.map(|(first, end, offset, len)| Literal { elems: first..end, offset, len })
}

/// Segments linked by bounded gaps; unbounded gaps separate blocks.
#[derive(Debug)]
pub(super) struct Block {
    pub segments: Range<usize>,
    /// Shortest extent of a match of the block.
    pub min_len: usize,
}

/// Where a scan looks for a pattern: literal bytes at a fixed
/// offset inside one segment.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct Anchor {
    pub segment: usize,
    pub offset: usize,
    /// Lower-case where the pattern is case-insensitive.
    pub bytes: Vec<u8>,
    /// Whether the anchor must be found ignoring ASCII case.
    pub folded: bool,
}

/// A compiled body pattern.
#[derive(Debug)]
pub(super) struct Pattern {
    segments: Box<[Segment]>,
    /// `gaps[i]` lies between `segments[i]` and `segments[i + 1]`.
    gaps: Box<[Gap]>,
    blocks: Box<[Block]>,
}

impl Pattern {
    fn new(segments: Box<[Segment]>, gaps: Box<[Gap]>) -> Pattern {
        let unbounded = gaps.iter().filter(|gap| gap.max.is_none()).count();
        let mut blocks = Vec::with_capacity(unbounded + 1);
        let mut first = 0;
        let mut min_len = 0usize;
        for (i, segment) in segments.iter().enumerate() {
            min_len = min_len.saturating_add(segment.len);
            match gaps.get(i) {
                Some(gap) if gap.max.is_some() => min_len = min_len.saturating_add(gap.min),
                _ => {
                    blocks.push(Block { segments: first..i + 1, min_len });
                    first = i + 1;
                    min_len = 0;
                }
            }
        }
        Pattern { segments, gaps, blocks: blocks.into_boxed_slice() }
    }

    pub fn segments(&self) -> &[Segment] {
        &self.segments
    }

    pub fn segment(&self, index: usize) -> Option<&Segment> {
        self.segments.get(index)
    }

    /// The gap between segment `index` and the next one.
    pub fn gap_after(&self, index: usize) -> Option<Gap> {
        self.gaps.get(index).copied()
    }

    pub fn blocks(&self) -> &[Block] {
        &self.blocks
    }

    /// The block holding segment `index`.
    pub fn block_of(&self, index: usize) -> usize {
        self.blocks.iter().position(|b| b.segments.contains(&index)).unwrap_or(0)
    }

    /// The longest literal run of the whole pattern, the first of equals
    /// (at most [`MAX_ANCHOR`] bytes of it), where a match is looked for.
    pub fn anchor(&self) -> Option<Anchor> {
        let mut best: Option<(usize, Literal)> = None;
        for (segment, seg) in self.segments.iter().enumerate() {
            if let Some(literal) = longest_literal(&seg.elems)
                && best.as_ref().is_none_or(|(_, b)| literal.len > b.len)
            {
                best = Some((segment, literal));
            }
        }
        let (segment, literal) = best?;
        let run = self.segments.get(segment)?.elems.get(literal.elems)?;
        let bytes = run.iter().flat_map(|e| e.literal().unwrap_or_default()).copied().take(MAX_ANCHOR).collect();
        let folded = run.iter().any(|e| matches!(e, Elem::Folded(_)));
        Some(Anchor { segment, offset: literal.offset, bytes, folded })
    }
}

/// Subsignature modifiers of `.ldb` (`::i`, `::w`, `::a`); `.ndb` uses
/// the default.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(super) struct Modifiers {
    /// ASCII letters match in either case.
    pub nocase: bool,
    /// Match the UTF-16LE form: every byte followed by a zero.
    pub wide: bool,
    /// With `wide`, also match the plain form.
    pub ascii: bool,
}

/// Compile `hex` under `modifiers` into the patterns that together
/// express it (more than one for alternatives of different lengths or
/// for `::wa`).
pub(super) fn compile(hex: &str, modifiers: Modifiers) -> Result<Vec<Pattern>, String> {
    let tokens = Parser { text: hex.as_bytes(), pos: 0 }.tokens()?;
    validate(&tokens)?;
    let tokens = if modifiers.nocase { tokens.into_iter().flat_map(fold_token).collect() } else { tokens };
    let forms = match (modifiers.wide, modifiers.ascii) {
        (false, _) => vec![tokens],
        (true, false) => vec![tokens.into_iter().flat_map(widen_token).collect()],
        (true, true) => {
            let wide = tokens.iter().cloned().flat_map(widen_token).collect();
            vec![tokens, wide]
        }
    };
    let mut patterns = Vec::new();
    for form in forms {
        for variant in expand(form)? {
            patterns.push(build(variant)?);
        }
    }
    Ok(patterns)
}

/// A pattern before it is split into segments.
#[derive(Clone, Debug)]
enum Token {
    /// A fixed-width element written in the pattern.
    Unit(Elem),
    /// `{n}`: `n` bytes of anything, not widened by `::w`.
    Fixed(usize),
    /// `*`, `{n-m}`, `{-n}`, `{n-}`.
    Gap(Gap),
    /// `[x-y]` next to a single byte.
    Anchored(Gap),
    /// Alternatives of different lengths.
    Choice(Vec<Vec<Elem>>),
}

struct Parser<'a> {
    text: &'a [u8],
    pos: usize,
}

impl Parser<'_> {
    fn tokens(mut self) -> Result<Vec<Token>, String> {
        let mut tokens = Vec::with_capacity(self.text.len() / 2);
        while let Some(&c) = self.text.get(self.pos) {
            let token = match c {
                b'*' => {
                    self.pos += 1;
                    Token::Gap(Gap { min: 0, max: None })
                }
                b'{' => self.range()?,
                b'[' => self.anchored()?,
                b'(' => self.alternatives(false)?,
                b'!' if self.text.get(self.pos + 1) == Some(&b'(') => {
                    self.pos += 1;
                    self.alternatives(true)?
                }
                _ => self.run_or_unit()?,
            };
            tokens.push(token);
        }
        if tokens.is_empty() {
            return Err("empty pattern".into());
        }
        Ok(tokens)
    }

    /// The text between `open` (at the current position) and `close`.
    fn enclosed(&mut self, close: u8) -> Result<&str, String> {
        let start = self.pos + 1;
        let rest = self.text.get(start..).unwrap_or_default();
        let len = rest.iter().position(|&c| c == close).ok_or_else(|| format!("unclosed bracket at {}", self.pos))?;
        self.pos = start + len + 1;
        std::str::from_utf8(rest.get(..len).unwrap_or_default()).map_err(|_| "non-ASCII pattern".to_string())
    }

    fn range(&mut self) -> Result<Token, String> {
        let body = self.enclosed(b'}')?;
        let number = |s: &str| s.parse::<usize>().map_err(|_| format!("bad gap {{{body}}}"));
        Ok(match body.split_once('-') {
            None => Token::Fixed(number(body)?),
            Some(("", max)) => Token::Gap(Gap { min: 0, max: Some(number(max)?) }),
            Some((min, "")) => Token::Gap(Gap { min: number(min)?, max: None }),
            Some((min, max)) => {
                let (min, max) = (number(min)?, number(max)?);
                if min > max {
                    return Err(format!("bad gap {{{body}}}: minimum above maximum"));
                }
                Token::Gap(Gap { min, max: Some(max) })
            }
        })
    }

    fn anchored(&mut self) -> Result<Token, String> {
        let body = self.enclosed(b']')?;
        let bad = || format!("bad anchored range [{body}]");
        let (min, max) = body.split_once('-').ok_or_else(bad)?;
        let (min, max) = (min.parse::<usize>().map_err(|_| bad())?, max.parse::<usize>().map_err(|_| bad())?);
        if min > max || max > MAX_ANCHORED_DISTANCE {
            return Err(bad());
        }
        Ok(Token::Anchored(Gap { min, max: Some(max) }))
    }

    fn alternatives(&mut self, negated: bool) -> Result<Token, String> {
        let body = self.enclosed(b')')?;
        if matches!(body, "B" | "L" | "W") {
            return Err(format!("boundary marker ({body}) not supported"));
        }
        let mut options = Vec::new();
        for text in body.split('|') {
            if text.is_empty() {
                return Err("empty alternative".into());
            }
            let mut inner = Parser { text: text.as_bytes(), pos: 0 };
            let mut option = Vec::new();
            while inner.pos < text.len() {
                option.push(inner.unit().map_err(|e| format!("in alternative ({body}): {e}"))?);
            }
            options.push(option);
        }
        let plain = options.iter().flatten().all(|e| matches!(e, Elem::Byte(_)));
        let len = options.first().map_or(0, Vec::len);
        let same_len = options.iter().all(|o| o.len() == len);
        if negated && !(plain && same_len) {
            return Err(format!("only plain bytes of one length can be negated: !({body})"));
        }
        if !same_len {
            return Ok(Token::Choice(options));
        }
        if len == 1 {
            let mut set = ByteSet::default();
            for elem in options.iter().flatten() {
                match elem {
                    Elem::Byte(b) => set.insert(*b),
                    other => (0..=u8::MAX).filter(|&byte| other.matches(&[byte])).for_each(|byte| set.insert(byte)),
                }
            }
            let set = if negated { set.complement() } else { set };
            return Ok(Token::Unit(Elem::Set(Box::new(set))));
        }
        Ok(Token::Unit(Elem::Strings(Box::new(Strings { options, len, negated }))))
    }

    /// Two or more hex bytes as one [`Elem::Run`] (most of a pattern, and
    /// far cheaper to handle than byte by byte), or else one unit.
    fn run_or_unit(&mut self) -> Result<Token, String> {
        let rest = self.text.get(self.pos..).unwrap_or_default();
        let byte = |pair: &[u8]| Some(hex_digit(*pair.first()?)? << 4 | hex_digit(*pair.get(1)?)?);
        let pairs = rest.chunks_exact(2);
        if pairs.clone().take(2).map_while(byte).count() < 2 {
            return Ok(Token::Unit(self.unit()?));
        }
        let run: Vec<u8> = pairs.map_while(byte).collect();
        self.pos += 2 * run.len();
        Ok(Token::Unit(Elem::Run(run.into_boxed_slice())))
    }

    /// Two characters: a hex byte, `??` or a nibble.
    fn unit(&mut self) -> Result<Elem, String> {
        let at = self.pos;
        let pair = self.text.get(at..at + 2).ok_or_else(|| format!("odd number of hex digits at {at}"))?;
        self.pos += 2;
        let (high, low) = (pair.first().copied().unwrap_or(0), pair.get(1).copied().unwrap_or(0));
        match (high, low, hex_digit(high), hex_digit(low)) {
            (_, _, Some(h), Some(l)) => Ok(Elem::Byte(h << 4 | l)),
            (b'?', b'?', _, _) => Ok(Elem::Skip(1)),
            (_, b'?', Some(h), _) => Ok(Elem::Nibble { mask: 0xF0, value: h << 4 }),
            (b'?', _, _, Some(l)) => Ok(Elem::Nibble { mask: 0x0F, value: l }),
            _ => Err(format!("invalid character in {:?} at {at}", String::from_utf8_lossy(pair))),
        }
    }
}

/// The value of a hex digit.
fn hex_digit(c: u8) -> Option<u8> {
    char::from(c).to_digit(16).and_then(|d| u8::try_from(d).ok())
}

/// ClamAV's rules for a loadable pattern (checked before modifiers apply).
fn validate(tokens: &[Token]) -> Result<(), String> {
    if matches!(tokens.first(), Some(Token::Gap(_))) || matches!(tokens.last(), Some(Token::Gap(_))) {
        return Err("pattern starts or ends with a variable gap".into());
    }
    let is_gap = |t: &Token| matches!(t, Token::Gap(_) | Token::Anchored(_));
    // The index of the last part: there is one part more than gaps.
    let last = tokens.iter().filter(|t| is_gap(t)).count();
    if last >= MAX_SEGMENTS {
        return Err(format!("more than {MAX_SEGMENTS} parts"));
    }
    // Positions count written bytes: a run stands for as many as it holds.
    let width = |t: &Token| match t {
        Token::Unit(Elem::Run(run)) => run.len(),
        _ => 1,
    };
    let single = |t: Option<&Token>| t.is_some_and(|t| width(t) == 1);
    let anchored = |t: Option<&Token>| matches!(t, Some(Token::Anchored(_)));
    let first_anchored = single(tokens.first()) && anchored(tokens.get(1));
    let last_anchored = single(tokens.last()) && anchored(tokens.len().checked_sub(2).and_then(|j| tokens.get(j)));
    for (i, part) in tokens.split(is_gap).enumerate() {
        if (i == 0 && first_anchored) || (i == last && i > 0 && last_anchored) {
            if !matches!(part, [Token::Unit(e)] if e.len() == 1) {
                return Err("[x-y] needs a single byte on its short side".into());
            }
            continue;
        }
        // Consecutive literal bytes always form a run.
        if !part.iter().any(|t| matches!(t, Token::Unit(Elem::Run(_)))) {
            return Err(format!("part {} has no two consecutive literal bytes", i + 1));
        }
    }
    let total: usize = tokens.iter().map(width).sum();
    let mut at = 0usize;
    for token in tokens {
        if matches!(token, Token::Anchored(_)) && at != 1 && at + 2 != total {
            return Err("[x-y] is only allowed next to a single byte at either end".into());
        }
        at += width(token);
    }
    Ok(())
}

/// The `i` modifier: letters match in either case (a run with letters
/// becomes single bytes).
fn fold_token(token: Token) -> Vec<Token> {
    match token {
        Token::Unit(Elem::Run(run)) if run.iter().any(u8::is_ascii_alphabetic) => {
            run.iter().map(|&b| Token::Unit(fold_elem(Elem::Byte(b)))).collect()
        }
        Token::Unit(elem) => vec![Token::Unit(fold_elem(elem))],
        Token::Choice(options) => {
            vec![Token::Choice(options.into_iter().map(|o| o.into_iter().map(fold_elem).collect()).collect())]
        }
        other => vec![other],
    }
}

fn fold_elem(elem: Elem) -> Elem {
    match elem {
        Elem::Byte(b) if b.is_ascii_alphabetic() => Elem::Folded(b.to_ascii_lowercase()),
        Elem::Set(mut set) => {
            for byte in 0..=u8::MAX {
                if byte.is_ascii_alphabetic() && set.contains(byte) {
                    set.insert(byte.to_ascii_lowercase());
                    set.insert(byte.to_ascii_uppercase());
                }
            }
            Elem::Set(set)
        }
        Elem::Strings(s) => {
            let Strings { options, len, negated } = *s;
            let options = options.into_iter().map(|o| o.into_iter().map(fold_elem).collect()).collect();
            Elem::Strings(Box::new(Strings { options, len, negated }))
        }
        other => other,
    }
}

/// The `w` modifier: every written byte is followed by a zero; `{n}` and
/// ranges keep counting bytes (as ClamAV does).
fn widen_token(token: Token) -> Vec<Token> {
    match token {
        Token::Unit(Elem::Strings(s)) => {
            let options: Vec<Vec<Elem>> = s.options.into_iter().map(widen_seq).collect();
            vec![Token::Unit(Elem::Strings(Box::new(Strings {
                options,
                len: s.len.saturating_mul(2),
                negated: s.negated,
            })))]
        }
        Token::Unit(Elem::Run(run)) => vec![Token::Unit(Elem::Run(run.iter().flat_map(|&b| [b, 0]).collect()))],
        Token::Unit(elem) => widen_seq(vec![elem]).into_iter().map(Token::Unit).collect(),
        Token::Choice(options) => vec![Token::Choice(options.into_iter().map(widen_seq).collect())],
        other => vec![other],
    }
}

fn widen_seq(elems: Vec<Elem>) -> Vec<Elem> {
    elems.into_iter().flat_map(|e| [e, Elem::Byte(0)]).collect()
}

/// Alternatives of different lengths become one token list per choice.
fn expand(tokens: Vec<Token>) -> Result<Vec<Vec<Token>>, String> {
    if !tokens.iter().any(|t| matches!(t, Token::Choice(_))) {
        return Ok(vec![tokens]);
    }
    let mut variants: Vec<Vec<Token>> = vec![Vec::new()];
    for token in tokens {
        match token {
            Token::Choice(options) => {
                if variants.len().saturating_mul(options.len()) > MAX_VARIANTS {
                    return Err(format!(
                        "alternatives of different lengths expand to more than {MAX_VARIANTS} patterns"
                    ));
                }
                variants = variants
                    .iter()
                    .flat_map(|v| {
                        options
                            .iter()
                            .map(move |o| v.iter().cloned().chain(o.iter().cloned().map(Token::Unit)).collect())
                    })
                    .collect();
            }
            other => variants.iter_mut().for_each(|v| v.push(other.clone())),
        }
    }
    Ok(variants)
}

/// Split a token list into segments and gaps.
fn build(tokens: Vec<Token>) -> Result<Pattern, String> {
    let gap_count = tokens.iter().filter(|t| matches!(t, Token::Gap(_) | Token::Anchored(_))).count();
    let mut segments = Vec::with_capacity(gap_count + 1);
    let mut gaps = Vec::with_capacity(gap_count);
    let mut elems = SegmentBuilder::default();
    for token in tokens {
        let elem = match token {
            Token::Gap(gap) | Token::Anchored(gap) => {
                segments.push(elems.take());
                gaps.push(gap);
                continue;
            }
            Token::Unit(elem) => elem,
            Token::Fixed(0) => continue,
            Token::Fixed(n) => Elem::Skip(n),
            Token::Choice(_) => return Err("internal: unexpanded alternative".into()),
        };
        elems.push(elem);
    }
    segments.push(elems.take());
    if segments.iter().any(|s| s.len == 0) {
        return Err("empty part between gaps".into());
    }
    Ok(Pattern::new(segments.into_boxed_slice(), gaps.into_boxed_slice()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(hex: &str) -> Pattern {
        let mut patterns = compile(hex, Modifiers::default()).unwrap_or_else(|e| panic!("{hex}: {e}"));
        assert_eq!(patterns.len(), 1, "{hex}");
        patterns.remove(0)
    }

    /// Whether a single-segment pattern matches `data` at `at`.
    fn at(hex: &str, data: &[u8], at: usize) -> bool {
        let p = one(hex);
        assert_eq!(p.segments().len(), 1, "{hex}");
        p.segments()[0].matches_at(data, at)
    }

    #[test]
    fn bytes_and_case_of_hex_digits() {
        assert!(at("414243", b"ABC", 0));
        assert!(at("4A4b4C", b"JKL", 0));
        assert!(!at("414243", b"ABD", 0));
        assert!(!at("414243", b"AB", 0), "past the end");
    }

    #[test]
    fn wildcards_and_nibbles() {
        assert!(at("4142??44", b"ABxD", 0));
        assert!(!at("4142??44", b"ABxE", 0));
        assert!(at("41424?", b"ABO", 0));
        assert!(!at("41424?", b"ABP", 0));
        assert!(at("4142?3", b"ABS", 0));
        assert!(!at("4142?3", b"ABT", 0));
    }

    #[test]
    fn fixed_gaps_stay_in_the_segment() {
        assert!(at("4142{3}45", b"ABxyzE", 0));
        assert!(!at("4142{3}45", b"ABxyE", 0));
        assert!(at("{2}4142", b"xxAB", 0));
    }

    #[test]
    fn single_byte_alternatives_and_negation() {
        assert!(at("4142(43|44)", b"ABD", 0));
        assert!(!at("4142(43|44)", b"ABE", 0));
        assert!(at("4142!(43|44)", b"ABE", 0));
        assert!(!at("4142!(43|44)", b"ABC", 0));
        assert!(at("(4?|5a)4243", b"OBC", 0));
        assert!(!at("(4?|5a)4243", b"aBC", 0));
    }

    #[test]
    fn multi_byte_alternatives_and_negation() {
        assert!(at("4142(4344|4546)", b"ABEF", 0));
        assert!(!at("4142(4344|4546)", b"ABCF", 0), "not mixed across options");
        assert!(at("4142!(4344|4546)", b"ABCF", 0));
        assert!(!at("4142!(4344|4546)", b"ABEF", 0));
    }

    #[test]
    fn alternatives_of_different_lengths_expand() {
        let patterns = compile("4142(43|4445)4647", Modifiers::default()).unwrap_or_default();
        assert_eq!(patterns.len(), 2);
        let hits = |data: &[u8]| patterns.iter().any(|p| p.segments()[0].matches_at(data, 0));
        assert!(hits(b"ABCFG"));
        assert!(hits(b"ABDEFG"));
        assert!(!hits(b"ABDFG"));
    }

    #[test]
    fn variable_gaps_split_segments_and_blocks() {
        let p = one("4142{2-3}4344*4546{-1}4748");
        assert_eq!(p.segments().len(), 4);
        assert_eq!(p.gap_after(0), Some(Gap { min: 2, max: Some(3) }));
        assert_eq!(p.gap_after(1), Some(Gap { min: 0, max: None }));
        assert_eq!(p.gap_after(2), Some(Gap { min: 0, max: Some(1) }));
        assert_eq!(p.blocks().len(), 2);
        assert_eq!(p.blocks()[0].segments, 0..2);
        assert_eq!(p.blocks()[0].min_len, 6);
        assert_eq!(p.block_of(3), 1);
        let p = one("4142{5-}4344");
        assert_eq!(p.gap_after(0), Some(Gap { min: 5, max: None }));
        assert_eq!(p.blocks().len(), 2);
    }

    #[test]
    fn anchored_byte_is_a_bounded_gap() {
        let p = one("41424344[1-2]45");
        assert_eq!(p.segments().len(), 2);
        assert_eq!(p.gap_after(0), Some(Gap { min: 1, max: Some(2) }));
        assert!(compile("45[1-2]41424344", Modifiers::default()).is_ok());
        assert!(compile("41424344[1-40]45", Modifiers::default()).is_err(), "distance over 32");
        assert!(compile("41424344[1-2]4546", Modifiers::default()).is_err(), "two bytes on the short side");
        assert!(compile("4142[1-2]43[1-2]44", Modifiers::default()).is_err());
    }

    #[test]
    fn anchor_is_the_longest_literal_run() {
        let p = one("41??4243*44454647{2-4}4849");
        assert_eq!(p.anchor(), Some(Anchor { segment: 1, offset: 0, bytes: b"DEFG".to_vec(), folded: false }));
        let p = one("41??42434445");
        assert_eq!(p.anchor().map(|a| (a.offset, a.bytes)), Some((2, b"BCDE".to_vec())));
        let long = "41".repeat(40);
        assert_eq!(one(&long).anchor().map(|a| a.bytes.len()), Some(MAX_ANCHOR));
    }

    #[test]
    fn clamav_validity_rules() {
        for bad in [
            "",
            "4",
            "41424",
            "4142zz",
            "*414243",
            "414243*",
            "414243{2-}",
            "4142*43",
            "41??42",
            "4142{3-2}43",
            "4142{x}43",
            "4142(43",
            "4142(43|)44",
            "4142(B)",
            "!(4?|5a)4142",
            "4142!(43|4445)",
            "41(42|43)44",
            "4142*{2-3}4344",
        ] {
            assert!(compile(bad, Modifiers::default()).is_err(), "{bad:?} accepted");
        }
        for good in ["4142", "??4142", "4142??", "{2}4142", "4142{-2}4344", "4142*4344", "(41|42)4344", "4142(43|4445)"]
        {
            assert!(compile(good, Modifiers::default()).is_ok(), "{good:?} rejected");
        }
    }

    #[test]
    fn too_many_variants_or_parts_are_rejected() {
        let many = "(41|4242)".repeat(7) + "4344";
        assert!(compile(&many, Modifiers::default()).is_err());
        let parts = vec!["4142"; MAX_SEGMENTS + 1].join("*");
        assert!(compile(&parts, Modifiers::default()).is_err());
    }

    #[test]
    fn nocase_folds_letters_only() {
        let nocase = Modifiers { nocase: true, ..Modifiers::default() };
        let p = &compile("41627a31(58|59)", nocase).unwrap_or_default()[0];
        assert!(p.segments()[0].matches_at(b"aBZ1y", 0));
        assert!(p.segments()[0].matches_at(b"Abz1X", 0));
        assert!(!p.segments()[0].matches_at(b"Abz!X", 0));
        assert!(p.anchor().is_some_and(|a| a.folded && a.bytes == b"abz1"));
    }

    #[test]
    fn wide_interleaves_zeros_but_not_in_gaps() {
        let wide = Modifiers { wide: true, ..Modifiers::default() };
        let p = &compile("4142??(43|44){2}45", wide).unwrap_or_default()[0];
        assert!(p.segments()[0].matches_at(b"A\0B\0x\0D\0..E\0", 0));
        assert!(!p.segments()[0].matches_at(b"ABxD..E", 0));
        let both = compile("414243", Modifiers { wide: true, ascii: true, nocase: false }).unwrap_or_default();
        assert_eq!(both.len(), 2);
        assert!(both[0].segments()[0].matches_at(b"ABC", 0));
        assert!(both[1].segments()[0].matches_at(b"A\0B\0C\0", 0));
    }

    #[test]
    fn huge_numbers_do_not_panic() {
        assert!(compile("4142{99999999999999999999999}4344", Modifiers::default()).is_err());
        let p = one("4142{18446744073709551615}4344");
        assert!(!p.segments()[0].matches_at(b"AB", 0));
        assert!(compile("4142{0-18446744073709551615}4344", Modifiers::default()).is_ok());
    }
}
