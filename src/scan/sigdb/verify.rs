//! Verification of a body pattern around one anchor hit: does a whole
//! match exist that puts the anchored segment exactly there?
//!
//! A match places every segment so that each gap is respected and the
//! first segment starts inside the signature's offset range (ClamAV's
//! existential semantics). Segments joined by bounded gaps form a block;
//! inside the anchor's block the sets of possible positions are followed
//! outwards through bounded windows, searched with memmem for each
//! segment's longest literal. Blocks joined by unbounded gaps (`*`,
//! `{n-}`) are matched greedily by earliest end, which is exact for
//! unbounded gaps, and those answers are cached per file ([`Memo`]):
//! a query for a later position reuses the previous one, so repeated
//! anchor hits do not rescan the file.
//!
//! Work is bounded by a [`Budget`]: each segment test costs one unit and
//! each 256 bytes searched one more. A candidate may spend at most
//! [`CANDIDATE_UNITS`] and a whole scan at most [`SCAN_UNITS`] plus
//! [`UNITS_PER_BYTE`] per byte of the file; a candidate that runs out
//! counts as not matching, and once the scan's budget is gone no further
//! candidate is verified. There is no backtracking: the position sets are
//! bounded by the windows, so a hostile file costs at most the budget.

use super::pattern::Pattern;
use memchr::memmem;

/// Work one candidate may do (about a millisecond).
pub(super) const CANDIDATE_UNITS: u64 = 1 << 20;
/// Fixed part of the work a scan may do.
pub(super) const SCAN_UNITS: u64 = 1 << 24;
/// Work a scan may do per byte of the file.
pub(super) const UNITS_PER_BYTE: u64 = 16;
/// Bytes searched per unit.
const BYTES_PER_UNIT: usize = 256;

/// The work left for one scan and for its current candidate.
#[derive(Debug)]
pub(super) struct Budget {
    scan: u64,
    candidate: u64,
}

/// A verification ran out of budget; it does not count as a match.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct OutOfBudget;

impl Budget {
    /// The budget for scanning a file of `len` bytes.
    pub fn for_file(len: usize) -> Budget {
        let len = u64::try_from(len).unwrap_or(u64::MAX);
        Budget { scan: SCAN_UNITS.saturating_add(len.saturating_mul(UNITS_PER_BYTE)), candidate: 0 }
    }

    /// Start verifying a candidate; false once the scan's budget is spent.
    pub fn start_candidate(&mut self) -> bool {
        self.candidate = self.scan.min(CANDIDATE_UNITS);
        self.candidate > 0
    }

    fn spend(&mut self, units: u64) -> Result<(), OutOfBudget> {
        if units > self.candidate {
            self.scan = self.scan.saturating_sub(self.candidate);
            self.candidate = 0;
            return Err(OutOfBudget);
        }
        self.candidate -= units;
        self.scan = self.scan.saturating_sub(units);
        Ok(())
    }
}

/// Where a match may begin and whether it must stand alone as a word.
#[derive(Clone, Copy, Debug)]
pub(super) struct Bounds {
    /// First and last allowed start of the match (inclusive).
    pub first: usize,
    pub last: usize,
    /// The `f` modifier: no ASCII letter or digit right before or after.
    pub fullword: bool,
}

impl Bounds {
    fn start_ok(&self, data: &[u8], at: usize) -> bool {
        (self.first..=self.last).contains(&at)
            && !(self.fullword && at.checked_sub(1).and_then(|i| data.get(i)).is_some_and(u8::is_ascii_alphanumeric))
    }

    fn end_ok(&self, data: &[u8], end: usize) -> bool {
        !(self.fullword && data.get(end).is_some_and(u8::is_ascii_alphanumeric))
    }
}

/// Earliest match of a block found for queries from `from` on.
#[derive(Clone, Copy, Debug)]
struct BlockAnswer {
    from: usize,
    /// (start, end) of the match with the earliest end, if any.
    hit: Option<(usize, usize)>,
}

/// What a search for one segment found: no accepted start in
/// `from..scanned`, and `first` (at `scanned`) if the search stopped there.
#[derive(Clone, Copy, Debug)]
struct SegmentAnswer {
    from: usize,
    scanned: usize,
    first: Option<usize>,
}

/// Whether blocks `b..` can follow from a position: they cannot from
/// `fails_from` on, and can up to `holds_up_to`.
#[derive(Clone, Copy, Debug)]
struct SuffixAnswer {
    fails_from: usize,
    holds_up_to: Option<usize>,
}

impl Default for SuffixAnswer {
    fn default() -> SuffixAnswer {
        SuffixAnswer { fails_from: usize::MAX, holds_up_to: None }
    }
}

/// What one file has taught about one pattern, so that later anchor hits
/// do not search the same bytes again.
#[derive(Debug, Default)]
pub(super) struct Memo {
    segments: Vec<Option<SegmentAnswer>>,
    blocks: Vec<Option<BlockAnswer>>,
    /// Earliest end of blocks `0..b`, indexed by `b`.
    prefixes: Vec<Option<Option<usize>>>,
    /// Whether blocks `b..` follow, indexed by `b`.
    suffixes: Vec<SuffixAnswer>,
}

impl Memo {
    /// An empty memo for `pattern` (allocates nothing for a single segment).
    pub fn new(pattern: &Pattern) -> Memo {
        let (segments, blocks) = (pattern.segments().len(), pattern.blocks().len());
        if segments < 2 {
            return Memo::default();
        }
        Memo {
            segments: vec![None; segments],
            blocks: vec![None; blocks],
            prefixes: vec![None; blocks],
            suffixes: vec![SuffixAnswer::default(); blocks],
        }
    }
}

/// One pattern checked against one file.
pub(super) struct Verifier<'a> {
    pub pattern: &'a Pattern,
    pub data: &'a [u8],
    pub bounds: Bounds,
    pub memo: &'a mut Memo,
    pub budget: &'a mut Budget,
}

impl Verifier<'_> {
    /// Whether a match exists with segment `segment` starting at `start`.
    pub fn verify(&mut self, segment: usize, start: usize) -> Result<bool, OutOfBudget> {
        if !self.accept(segment, start)? {
            return Ok(false);
        }
        let block_index = self.pattern.block_of(segment);
        let Some(block) = self.pattern.blocks().get(block_index) else { return Ok(false) };
        let first = block.segments.start;
        let last = block.segments.end;

        let mut starts = vec![start];
        for j in (first..segment).rev() {
            starts = self.backward(j, &starts)?;
            if starts.is_empty() {
                return Ok(false);
            }
        }
        if block_index > 0 {
            let Some(prefix_end) = self.prefix_end(block_index)? else { return Ok(false) };
            let min_start = prefix_end.saturating_add(self.gap_min_before(first));
            if starts.last().is_none_or(|&s| s < min_start) {
                return Ok(false);
            }
        }

        let mut ends = vec![start.saturating_add(self.len(segment))];
        for j in segment + 1..last {
            ends = self.forward(j, &ends)?;
            if ends.is_empty() {
                return Ok(false);
            }
        }
        let Some(&end) = ends.first() else { return Ok(false) };
        self.suffix_follows(block_index + 1, end)
    }

    /// Whether blocks `b..` can follow a match of block `b - 1` ending at
    /// `end` (they follow trivially when there are none).
    fn suffix_follows(&mut self, b: usize, end: usize) -> Result<bool, OutOfBudget> {
        if let Some(known) = self.memo.suffixes.get(b) {
            if end >= known.fails_from {
                return Ok(false);
            }
            if known.holds_up_to.is_some_and(|up_to| end <= up_to) {
                return Ok(true);
            }
        }
        let mut previous_end = end;
        for next in b..self.pattern.blocks().len() {
            let Some(first) = self.pattern.blocks().get(next).map(|block| block.segments.start) else { break };
            let from = previous_end.saturating_add(self.gap_min_before(first));
            match self.earliest_block_end(next, from)? {
                Some(e) => previous_end = e,
                None => {
                    if let Some(known) = self.memo.suffixes.get_mut(b) {
                        known.fails_from = known.fails_from.min(end);
                    }
                    return Ok(false);
                }
            }
        }
        if let Some(known) = self.memo.suffixes.get_mut(b) {
            known.holds_up_to = Some(known.holds_up_to.map_or(end, |up_to| up_to.max(end)));
        }
        Ok(true)
    }

    fn len(&self, segment: usize) -> usize {
        self.pattern.segment(segment).map_or(usize::MAX, |s| s.len())
    }

    fn gap_min_before(&self, segment: usize) -> usize {
        segment.checked_sub(1).and_then(|i| self.pattern.gap_after(i)).map_or(0, |g| g.min)
    }

    /// Segment `j` matches at `at`, with the match's outer bounds where it
    /// is the first or last segment.
    fn accept(&mut self, j: usize, at: usize) -> Result<bool, OutOfBudget> {
        self.budget.spend(1)?;
        let Some(segment) = self.pattern.segment(j) else { return Ok(false) };
        Ok(segment.matches_at(self.data, at)
            && (j != 0 || self.bounds.start_ok(self.data, at))
            && (j + 1 != self.pattern.segments().len()
                || self.bounds.end_ok(self.data, at.saturating_add(segment.len()))))
    }

    /// The first start of segment `j` in `from..=to` that is accepted,
    /// using and extending what earlier searches found.
    fn next_start(&mut self, j: usize, from: usize, to: usize) -> Result<Option<usize>, OutOfBudget> {
        let known = self.memo.segments.get(j).copied().flatten().filter(|k| k.from <= from && from <= k.scanned);
        let (region_start, search_from) = match known {
            Some(SegmentAnswer { first: Some(first), .. }) => return Ok(Some(first).filter(|&f| f <= to)),
            Some(SegmentAnswer { scanned, first: None, .. }) if to < scanned => return Ok(None),
            Some(SegmentAnswer { from: known_from, scanned, first: None }) => (known_from, scanned),
            None => (from, from),
        };
        let first = self.search(j, search_from, to)?;
        let scanned = first.unwrap_or(to.saturating_add(1));
        if let Some(slot) = self.memo.segments.get_mut(j) {
            *slot = Some(SegmentAnswer { from: region_start, scanned, first });
        }
        Ok(first)
    }

    /// The first start of segment `j` in `from..=to` that is accepted.
    fn search(&mut self, j: usize, mut from: usize, to: usize) -> Result<Option<usize>, OutOfBudget> {
        let Some(segment) = self.pattern.segment(j) else { return Ok(None) };
        let Some(to) = self.data.len().checked_sub(segment.len()).map(|last| last.min(to)) else { return Ok(None) };
        while from <= to {
            let at = match segment.key() {
                Some((offset, key)) => {
                    let window_end = to.saturating_add(offset).saturating_add(key.len()).min(self.data.len());
                    let window = self.data.get(from.saturating_add(offset)..window_end).unwrap_or_default();
                    let found = memmem::find(window, key);
                    let searched = found.map_or(window.len(), |i| i + key.len());
                    self.budget.spend(u64::try_from(searched / BYTES_PER_UNIT).unwrap_or(u64::MAX))?;
                    match found {
                        Some(i) => from + i,
                        None => return Ok(None),
                    }
                }
                None => from,
            };
            if self.accept(j, at)? {
                return Ok(Some(at));
            }
            from = at + 1;
        }
        Ok(None)
    }

    /// Every accepted start of segment `j` inside the inclusive `windows`
    /// (sorted, not overlapping), in order.
    fn starts_in(&mut self, j: usize, windows: &[(usize, usize)]) -> Result<Vec<usize>, OutOfBudget> {
        let mut starts = Vec::new();
        for &(low, high) in windows {
            let mut from = low;
            while let Some(at) = self.next_start(j, from, high)? {
                starts.push(at);
                from = at + 1;
            }
        }
        Ok(starts)
    }

    /// Starts of segment `j` that the following segment's `next_starts`
    /// allow.
    fn backward(&mut self, j: usize, next_starts: &[usize]) -> Result<Vec<usize>, OutOfBudget> {
        let Some(gap) = self.pattern.gap_after(j) else { return Ok(Vec::new()) };
        let len = self.len(j);
        let reach = gap.max.unwrap_or(usize::MAX).saturating_add(len);
        let windows = merge(next_starts.iter().filter_map(|&next| {
            let high = next.checked_sub(gap.min)?.checked_sub(len)?;
            Some((next.saturating_sub(reach), high))
        }));
        self.starts_in(j, &windows)
    }

    /// Ends of segment `j` that the previous segment's `previous_ends`
    /// allow.
    fn forward(&mut self, j: usize, previous_ends: &[usize]) -> Result<Vec<usize>, OutOfBudget> {
        let Some(gap) = j.checked_sub(1).and_then(|i| self.pattern.gap_after(i)) else { return Ok(Vec::new()) };
        let windows = merge(
            previous_ends
                .iter()
                .map(|&end| (end.saturating_add(gap.min), end.saturating_add(gap.max.unwrap_or(usize::MAX)))),
        );
        let len = self.len(j);
        Ok(self.starts_in(j, &windows)?.into_iter().map(|s| s.saturating_add(len)).collect())
    }

    /// The earliest end of a match of block `b` starting at `from` or
    /// later (and inside the offset range for block 0).
    fn earliest_block_end(&mut self, b: usize, from: usize) -> Result<Option<usize>, OutOfBudget> {
        if let Some(Some(known)) = self.memo.blocks.get(b)
            && from >= known.from
            && known.hit.is_none_or(|(start, _)| from <= start)
        {
            return Ok(known.hit.map(|(_, end)| end));
        }
        let Some(block) = self.pattern.blocks().get(b) else { return Ok(None) };
        let (segments, min_len) = (block.segments.clone(), block.min_len);
        let first = segments.start;
        let limit = if first == 0 { self.bounds.last } else { usize::MAX };
        let mut best: Option<(usize, usize)> = None;
        let mut next = from;
        while let Some(start) = self.next_start(first, next, limit)? {
            if best.is_some_and(|(_, end)| start.saturating_add(min_len) >= end) {
                break;
            }
            let mut ends = vec![start.saturating_add(self.len(first))];
            for j in segments.start + 1..segments.end {
                ends = self.forward(j, &ends)?;
                if ends.is_empty() {
                    break;
                }
            }
            if let Some(&end) = ends.first()
                && best.is_none_or(|(_, e)| end < e)
            {
                best = Some((start, end));
            }
            next = start + 1;
        }
        if let Some(slot) = self.memo.blocks.get_mut(b) {
            *slot = Some(BlockAnswer { from, hit: best });
        }
        Ok(best.map(|(_, end)| end))
    }

    /// The earliest end of a chain of blocks `0..b` from the file start.
    fn prefix_end(&mut self, b: usize) -> Result<Option<usize>, OutOfBudget> {
        if let Some(Some(known)) = self.memo.prefixes.get(b) {
            return Ok(*known);
        }
        let mut end = self.earliest_block_end(0, self.bounds.first)?;
        for next in 1..b {
            let Some(e) = end else { break };
            let Some(first) = self.pattern.blocks().get(next).map(|bl| bl.segments.start) else { break };
            end = self.earliest_block_end(next, e.saturating_add(self.gap_min_before(first)))?;
        }
        if let Some(slot) = self.memo.prefixes.get_mut(b) {
            *slot = Some(end);
        }
        Ok(end)
    }
}

/// Merge sorted inclusive ranges (sorted by both ends) that overlap or
/// touch.
fn merge(ranges: impl Iterator<Item = (usize, usize)>) -> Vec<(usize, usize)> {
    let mut merged: Vec<(usize, usize)> = Vec::new();
    for (low, high) in ranges {
        match merged.last_mut() {
            Some(last) if low <= last.1.saturating_add(1) => last.1 = last.1.max(high),
            _ => merged.push((low, high)),
        }
    }
    merged
}

#[cfg(test)]
mod tests {
    use super::super::pattern::{Modifiers, compile};
    use super::*;

    /// Whether `hex` matches anywhere in `data` with its start in
    /// `first..=last`, trying every anchor position as a scan would.
    fn finds_in(hex: &str, data: &[u8], first: usize, last: usize) -> bool {
        let patterns = compile(hex, Modifiers::default()).expect("valid pattern");
        let mut budget = Budget::for_file(data.len());
        patterns.iter().any(|pattern| {
            let anchor = pattern.anchor().expect("anchor");
            let mut memo = Memo::new(pattern);
            let bounds = Bounds { first, last, fullword: false };
            memmem::find_iter(data, &anchor.bytes).any(|hit| {
                let Some(start) = hit.checked_sub(anchor.offset) else { return false };
                assert!(budget.start_candidate());
                let mut v = Verifier { pattern, data, bounds, memo: &mut memo, budget: &mut budget };
                v.verify(anchor.segment, start) == Ok(true)
            })
        })
    }

    fn finds(hex: &str, data: &[u8]) -> bool {
        finds_in(hex, data, 0, usize::MAX)
    }

    #[test]
    fn star_matches_any_distance_including_zero() {
        assert!(finds("4142*4344", b"ABCD"));
        assert!(finds("4142*4344", b"AB..........CD"));
        assert!(!finds("4142*4344", b"CD..AB"));
        assert!(!finds("41424344*4344", b"ABCD"), "segments do not overlap");
    }

    #[test]
    fn ranges_bound_the_distance() {
        assert!(finds("4142{2-3}4344", b"ABxxCD"));
        assert!(finds("4142{2-3}4344", b"ABxxxCD"));
        assert!(!finds("4142{2-3}4344", b"ABxCD"));
        assert!(!finds("4142{2-3}4344", b"ABxxxxCD"));
        assert!(finds("4142{-2}4344", b"ABCD"));
        assert!(!finds("4142{-2}4344", b"ABxxxCD"));
        assert!(finds("4142{3-}4344", b"ABxxxxxxxCD"));
        assert!(!finds("4142{3-}4344", b"ABxxCD"));
    }

    #[test]
    fn any_placement_counts_not_only_the_first() {
        // The first CD after AB is not followed by EF; the second is.
        assert!(finds("4142{0-4}4344{0-1}4546", b"ABCDxCDEFzz"));
        assert!(finds("4142*4344{0-1}4546", b"ABCDxCDEFzz"));
        assert!(finds("4142{0-1}4344{4-8}4344", b"ABxABCDxxxxxxCDzz"));
        // Anchored in a later segment: the earlier ones are found backwards,
        // and the nearest CD is not the one that fits.
        assert!(finds("4142{0-4}4344{1-4}45464748", b"AB..CD.CD.EFGH"));
        assert!(!finds("4142{0-1}4344{1-4}45464748", b"AB..CD.CD.EFGH"));
    }

    #[test]
    fn blocks_before_the_anchor_must_fit() {
        assert!(finds("4142*4344*45464748", b"AB..CD..EFGH"));
        assert!(!finds("4142*4344*45464748", b"CD..AB..EFGH"));
        assert!(!finds("4142*4344*45464748", b"EFGH..AB..CD"));
    }

    #[test]
    fn offset_range_applies_to_the_first_segment() {
        assert!(finds_in("4142*45464748", b"..AB..EFGH", 2, 2));
        assert!(!finds_in("4142*45464748", b"..AB..EFGH", 3, 5));
        assert!(finds_in("4142*45464748", b"AB.AB..EFGH", 3, 3));
        assert!(finds_in("??414243", b".ABC", 0, 0));
        assert!(!finds_in("??414243", b".ABC", 1, 1));
    }

    #[test]
    fn fullword_checks_both_ends() {
        let patterns = compile("616263", Modifiers::default()).expect("valid");
        let check = |data: &[u8], at: usize| {
            let mut budget = Budget::for_file(data.len());
            budget.start_candidate();
            let mut memo = Memo::default();
            let bounds = Bounds { first: 0, last: usize::MAX, fullword: true };
            Verifier { pattern: &patterns[0], data, bounds, memo: &mut memo, budget: &mut budget }.verify(0, at)
        };
        assert_eq!(check(b" abc.", 1), Ok(true));
        assert_eq!(check(b"abc", 0), Ok(true));
        assert_eq!(check(b"xabc ", 1), Ok(false));
        assert_eq!(check(b" abc1", 1), Ok(false));
    }

    #[test]
    fn hostile_input_stays_within_budget() {
        // Every position is a candidate; the later segment never comes.
        let data = b"AB".repeat(200_000);
        assert!(!finds("4142{0-60000}4344", &data));
        assert!(!finds("4142*4344", &data));
        let stars = vec!["4142"; 100].join("*") + "*4344";
        assert!(!finds(&stars, &data));
    }

    #[test]
    fn a_candidate_out_of_budget_is_not_a_match() {
        let patterns = compile("4142{0-1000000}4344", Modifiers::default()).expect("valid");
        let pattern = &patterns[0];
        let data = [b"AB".repeat(400_000), b"CD".to_vec()].concat();
        let bounds = Bounds { first: 0, last: usize::MAX, fullword: false };
        let mut memo = Memo::new(pattern);
        let mut budget = Budget::for_file(data.len());
        assert!(budget.start_candidate());
        let mut v = Verifier { pattern, data: &data, bounds, memo: &mut memo, budget: &mut budget };
        assert_eq!(v.verify(0, 0), Ok(true), "a far but single occurrence is cheap to find");

        let mut memo = Memo::new(pattern);
        let mut small = Budget::for_file(0);
        small.scan = 100;
        assert!(small.start_candidate());
        let mut v = Verifier { pattern, data: &data, bounds, memo: &mut memo, budget: &mut small };
        assert_eq!(v.verify(0, 0), Err(OutOfBudget));
        assert!(!small.start_candidate(), "the scan's budget is spent");
    }

    #[test]
    fn merge_joins_overlapping_windows() {
        assert_eq!(merge([(0, 3), (2, 5), (6, 7), (9, 9)].into_iter()), vec![(0, 7), (9, 9)]);
    }
}
