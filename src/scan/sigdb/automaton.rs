//! The one Aho-Corasick automaton over the anchors of every body pattern
//! (`.ndb` signatures and `.ldb` subsignatures), and the scan that runs
//! it once per file and verifies the full pattern at each anchor hit.
//!
//! Overlapping matches are used so that no anchor occurrence is hidden
//! by another; identical anchors share one automaton pattern. When some
//! pattern is case-insensitive the automaton ignores ASCII case for all
//! of them and verification restores exactness.

use super::logical::MAX_SUBSIGS;
use super::offset::Offset;
use super::pattern::Pattern;
use super::target::Target;
use super::verify::{Bounds, Budget, Memo, Verifier};
use crate::mime::detect::FileType;
use aho_corasick::{AhoCorasick, AhoCorasickBuilder, AhoCorasickKind, MatchKind};
use std::collections::{HashMap, HashSet};

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

/// One program behind an automaton pattern.
#[derive(Clone, Copy, Debug)]
struct Use {
    program: u32,
    segment: usize,
    /// Where the anchor sits inside its segment.
    offset: usize,
}

/// Collects programs, then builds the automaton.
#[derive(Debug, Default)]
pub(super) struct AnchorSetBuilder {
    programs: Vec<Program>,
    anchors: HashMap<Vec<u8>, usize>,
    uses: Vec<Vec<Use>>,
    fold: bool,
}

impl AnchorSetBuilder {
    /// Add a program; Err when it has no literal anchor (which pattern
    /// validation rules out) or too many programs were added.
    pub fn add(&mut self, program: Program) -> Result<(), String> {
        let anchor = program.pattern.anchor().ok_or("pattern has no literal bytes to anchor on")?;
        let id = u32::try_from(self.programs.len()).map_err(|_| "too many patterns")?;
        self.fold |= anchor.folded;
        let next = self.uses.len();
        let slot = *self.anchors.entry(anchor.bytes).or_insert(next);
        if slot == next {
            self.uses.push(Vec::new());
        }
        if let Some(uses) = self.uses.get_mut(slot) {
            uses.push(Use { program: id, segment: anchor.segment, offset: anchor.offset });
        }
        self.programs.push(program);
        Ok(())
    }

    /// Build the automaton.
    pub fn build(self) -> Result<AnchorSet, String> {
        let mut patterns: Vec<(Vec<u8>, usize)> = self.anchors.into_iter().collect();
        patterns.sort_unstable_by_key(|(_, slot)| *slot);
        let automaton = if patterns.is_empty() {
            None
        } else {
            let built = AhoCorasickBuilder::new()
                .match_kind(MatchKind::Standard)
                .kind(Some(AhoCorasickKind::ContiguousNFA))
                .ascii_case_insensitive(self.fold)
                .build(patterns.iter().map(|(bytes, _)| bytes));
            Some(built.map_err(|e| format!("anchor automaton: {e}"))?)
        };
        let uses = self.uses.into_iter().map(Vec::into_boxed_slice).collect();
        Ok(AnchorSet { automaton, uses, programs: self.programs })
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
    automaton: Option<AhoCorasick>,
    /// Per automaton pattern, the programs anchored on it.
    uses: Vec<Box<[Use]>>,
    programs: Vec<Program>,
}

impl AnchorSet {
    /// Run the automaton over `data` and verify every anchor hit.
    pub fn scan(&self, data: &[u8], file: FileType) -> Findings {
        let mut findings = Findings::default();
        let Some(automaton) = &self.automaton else { return findings };
        let mut budget = Budget::for_file(data.len());
        let mut memos: HashMap<u32, Memo> = HashMap::new();
        for hit in automaton.find_overlapping_iter(data) {
            let Some(uses) = self.uses.get(hit.pattern().as_usize()) else { continue };
            for anchor in uses.iter() {
                let Some(program) = self.programs.get(anchor.program as usize) else { continue };
                if !program.target.applies_to(file) {
                    continue;
                }
                if let Owner::Body(id) = program.owner
                    && findings.body.contains(&id)
                {
                    continue;
                }
                let Some(start) = hit.start().checked_sub(anchor.offset) else { continue };
                let Some((first, last)) = program.offset.range(data.len()) else { continue };
                if !budget.start_candidate() {
                    return findings;
                }
                let mut single = Memo::default();
                let memo = if program.pattern.segments().len() > 1 {
                    memos.entry(anchor.program).or_insert_with(|| Memo::new(&program.pattern))
                } else {
                    &mut single
                };
                let bounds = Bounds { first, last, fullword: program.fullword };
                let mut verifier = Verifier { pattern: &program.pattern, data, bounds, memo, budget: &mut budget };
                if verifier.verify(anchor.segment, start) != Ok(true) {
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
        builder.build().expect("automaton")
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
        let set = builder.build().expect("automaton");
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
        let set = builder.build().expect("automaton");
        assert_eq!(body_hits(&set, b"ABC def", FileType::Text), vec![0, 1]);
        assert_eq!(body_hits(&set, b"aBc DEF", FileType::Text), vec![0]);
    }

    #[test]
    fn an_empty_set_finds_nothing() {
        let set = AnchorSetBuilder::default().build().expect("empty automaton");
        assert!(set.scan(b"anything", FileType::Other).body.is_empty());
    }
}
