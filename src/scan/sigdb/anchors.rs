//! Every body pattern (`.ndb` signatures and `.ldb` subsignatures) with
//! its anchor, and the scan that finds each anchor occurrence once per
//! file (`grams.rs`) and verifies the full pattern there.
//!
//! Every occurrence is seen, overlapping ones included, so that none is
//! hidden by another. When some pattern is case-insensitive, anchors are
//! found ignoring ASCII case for all of them and verification restores
//! exactness.

use super::arena::Arena;
use super::grams::Grams;
use super::logical::MAX_SUBSIGS;
use super::offset::Offset;
use super::pattern::Pattern;
use super::target::Target;
use super::verify::{Bounds, Budget, Memo, Verifier};
use crate::mime::detect::FileType;
use std::collections::{HashMap, HashSet};
use std::ops::RangeInclusive;

/// Whose pattern a program is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Owner {
    /// An `.ndb` signature, by its id.
    Body(u32),
    /// Subsignature `sub` of logical signature `sig`.
    Logical { sig: u32, sub: usize },
}

/// A pattern with where it applies.
#[derive(Debug)]
pub(super) struct Program {
    pub pattern: Pattern,
    pub target: Target,
    pub offset: Offset,
    pub fullword: bool,
    pub owner: Owner,
}

/// Where a program's anchor sits in its pattern.
#[derive(Clone, Copy, Debug)]
struct Placement {
    segment: usize,
    /// Offset of the anchor inside its segment.
    offset: usize,
}

/// Collects programs, then files their anchors.
#[derive(Debug, Default)]
pub(super) struct AnchorSetBuilder {
    programs: Vec<Program>,
    /// Per program, its anchor's bytes and placement.
    anchors: Arena,
    placements: Vec<Placement>,
    fold: bool,
}

impl AnchorSetBuilder {
    /// Add a program; Err when it has no literal bytes to anchor on or
    /// too many programs were added.
    pub fn add(&mut self, program: Program) -> Result<(), String> {
        let anchor = program.pattern.anchor().ok_or("pattern has no literal bytes to anchor on")?;
        self.anchors.push(&anchor.bytes).map_err(|_| "too many patterns")?;
        self.fold |= anchor.folded;
        self.placements.push(Placement { segment: anchor.segment, offset: anchor.offset });
        self.programs.push(program);
        Ok(())
    }

    /// Add `other`'s programs after these, their owners' signature ids
    /// raised by `ids` and logical signature indexes by `logicals` (which
    /// the caller keeps within `u32`, as it numbers the signatures).
    pub fn append(&mut self, other: AnchorSetBuilder, ids: u32, logicals: u32) -> Result<(), String> {
        self.anchors.append(&other.anchors)?;
        self.programs.extend(other.programs.into_iter().map(|mut program| {
            program.owner = match program.owner {
                Owner::Body(id) => Owner::Body(id.saturating_add(ids)),
                Owner::Logical { sig, sub } => Owner::Logical { sig: sig.saturating_add(logicals), sub },
            };
            program
        }));
        self.placements.extend(other.placements);
        self.fold |= other.fold;
        Ok(())
    }

    /// File the anchors, each under windows as wide as it allows.
    pub fn build(self) -> AnchorSet {
        let with_len = |lens: RangeInclusive<usize>| -> Vec<u32> {
            (0..self.anchors.len())
                .filter(|&id| self.anchors.get(id).is_some_and(|a| lens.contains(&a.len())))
                .collect()
        };
        AnchorSet {
            long: Grams::build(&self.anchors, &with_len(4..=usize::MAX), self.fold),
            short: Grams::build(&self.anchors, &with_len(2..=3), self.fold),
            single: Grams::build(&self.anchors, &with_len(1..=1), self.fold),
            anchors: self.anchors,
            placements: self.placements,
            programs: self.programs,
            fold: self.fold,
        }
    }
}

/// What one scan found.
#[derive(Debug, Default)]
pub(super) struct Findings {
    /// Ids of `.ndb` signatures that matched.
    pub body: HashSet<u32>,
    /// Match counts per subsignature of each logical signature with any.
    pub logical: HashMap<u32, [u32; MAX_SUBSIGS]>,
}

/// All body patterns, ready to scan.
#[derive(Debug, Default)]
pub(super) struct AnchorSet {
    /// Anchors of four bytes or more, of two or three, and of one (which
    /// validation allows only between single bytes next to `[x-y]`).
    long: Grams<4>,
    short: Grams<2>,
    single: Grams<1>,
    /// Per program, its anchor's bytes and placement.
    anchors: Arena,
    placements: Vec<Placement>,
    programs: Vec<Program>,
    fold: bool,
}

impl AnchorSet {
    /// Find every anchor in `data` and verify each hit.
    pub fn scan(&self, data: &[u8], file: FileType) -> Findings {
        let mut findings = Findings::default();
        let mut budget = Budget::for_file(data.len());
        let mut memos: HashMap<u32, Memo> = HashMap::new();
        let (anchors, fold) = (&self.anchors, self.fold);
        let hits = self.long.hits(anchors, data, fold).chain(self.short.hits(anchors, data, fold));
        for (id, anchor_start) in hits.chain(self.single.hits(anchors, data, fold)) {
            let (Some(program), Some(placement)) = (self.programs.get(id as usize), self.placements.get(id as usize))
            else {
                continue;
            };
            if !program.target.applies_to(file) {
                continue;
            }
            if let Owner::Body(id) = program.owner
                && findings.body.contains(&id)
            {
                continue;
            }
            let Some(start) = anchor_start.checked_sub(placement.offset) else { continue };
            let Some((first, last)) = program.offset.range(data.len()) else { continue };
            if !budget.start_candidate() {
                return findings;
            }
            let mut single = Memo::default();
            let memo = if program.pattern.segments().len() > 1 {
                memos.entry(id).or_insert_with(|| Memo::new(&program.pattern))
            } else {
                &mut single
            };
            let bounds = Bounds { first, last, fullword: program.fullword };
            let mut verifier = Verifier { pattern: &program.pattern, data, bounds, memo, budget: &mut budget };
            if verifier.verify(placement.segment, start) != Ok(true) {
                continue;
            }
            match program.owner {
                Owner::Body(id) => {
                    findings.body.insert(id);
                }
                Owner::Logical { sig, sub } => {
                    let counts = findings.logical.entry(sig).or_insert([0; MAX_SUBSIGS]);
                    if let Some(count) = counts.get_mut(sub) {
                        *count = count.saturating_add(1);
                    }
                }
            }
        }
        findings
    }
}

#[cfg(test)]
mod tests {
    use super::super::pattern::{Modifiers, compile};
    use super::*;

    fn set(sigs: &[(&str, Target, Offset)]) -> AnchorSet {
        let mut builder = AnchorSetBuilder::default();
        for (id, (hex, target, offset)) in (0..).zip(sigs) {
            for pattern in compile(hex, Modifiers::default()).expect("valid") {
                let program =
                    Program { pattern, target: *target, offset: *offset, fullword: false, owner: Owner::Body(id) };
                builder.add(program).expect("anchored");
            }
        }
        builder.build()
    }

    fn body_hits(set: &AnchorSet, data: &[u8], file: FileType) -> Vec<u32> {
        let mut hits: Vec<u32> = set.scan(data, file).body.into_iter().collect();
        hits.sort_unstable();
        hits
    }

    #[test]
    fn shared_and_overlapping_anchors_are_all_seen() {
        let set = set(&[
            ("41424344", Target::Any, Offset::Any),
            ("41424344??", Target::Any, Offset::Any),
            ("4243", Target::Any, Offset::Any),
            ("4142434445", Target::Any, Offset::Any),
        ]);
        assert_eq!(body_hits(&set, b"xABCDEy", FileType::Other), vec![0, 1, 2, 3]);
        assert_eq!(body_hits(&set, b"xABCD", FileType::Other), vec![0, 2]);
    }

    #[test]
    fn targets_and_offsets_filter_candidates() {
        let set =
            set(&[("41424344", Target::Pe, Offset::Any), ("45464748", Target::Any, Offset::Start { at: 2, shift: 0 })]);
        assert_eq!(body_hits(&set, b"MZABCD", FileType::Pe), vec![0]);
        assert!(body_hits(&set, b"MZABCD", FileType::Text).is_empty());
        assert_eq!(body_hits(&set, b"..EFGH", FileType::Text), vec![1]);
        assert!(body_hits(&set, b"...EFGH", FileType::Text).is_empty());
    }

    #[test]
    fn logical_subsignatures_are_counted_per_position() {
        let mut builder = AnchorSetBuilder::default();
        let pattern = compile("616161", Modifiers::default()).expect("valid").remove(0);
        let owner = Owner::Logical { sig: 7, sub: 1 };
        builder
            .add(Program { pattern, target: Target::Any, offset: Offset::Any, fullword: false, owner })
            .expect("anchored");
        let set = builder.build();
        let findings = set.scan(b"aaaaaa..aaa", FileType::Text);
        assert_eq!(findings.logical.get(&7).map(|c| c[1]), Some(5));
    }

    #[test]
    fn case_insensitive_anchors_keep_exact_patterns_exact() {
        let mut builder = AnchorSetBuilder::default();
        let nocase = Modifiers { nocase: true, ..Modifiers::default() };
        for (id, (hex, modifiers)) in (0..).zip([("616263", nocase), ("646566", Modifiers::default())]) {
            let pattern = compile(hex, modifiers).expect("valid").remove(0);
            let owner = Owner::Body(id);
            builder
                .add(Program { pattern, target: Target::Any, offset: Offset::Any, fullword: false, owner })
                .expect("anchored");
        }
        let set = builder.build();
        assert_eq!(body_hits(&set, b"ABC def", FileType::Text), vec![0, 1]);
        assert_eq!(body_hits(&set, b"aBc DEF", FileType::Text), vec![0]);
    }

    #[test]
    fn anchors_of_every_width_are_found() {
        let set = set(&[
            ("41[1-2](4?|5a)", Target::Any, Offset::Any),
            ("4243??44", Target::Any, Offset::Any),
            ("45464748", Target::Any, Offset::Any),
        ]);
        assert_eq!(body_hits(&set, b"xxA.Oyy BC.D EFGH", FileType::Other), vec![0, 1, 2]);
        assert!(body_hits(&set, b"xxA...Oyy BCD EFG", FileType::Other).is_empty());
    }

    #[test]
    fn an_empty_set_finds_nothing() {
        let set = AnchorSetBuilder::default().build();
        assert!(set.scan(b"anything", FileType::Other).body.is_empty());
    }
}
