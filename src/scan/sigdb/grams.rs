//! Finding anchors in a file: a q-gram index over them.
//!
//! Each anchor is filed once, under one window of `W` bytes of it. A scan
//! hashes every `W`-byte window of the file, tests a bitset of the filed
//! keys and, on a hit, compares the anchors filed under that key in full,
//! so every occurrence of every anchor is reported exactly once,
//! overlapping ones included. Building takes two passes over the anchors,
//! and a scan costs a few operations per byte: with tens of thousands of anchors an
//! Aho-Corasick automaton took most of the load time to build and ran
//! several times slower.
//!
//! The window an anchor is filed under is the one with the most distinct
//! bytes, so that runs such as `00 00 00 00`, common in files, do not keep
//! passing the filter; among those, the one whose bucket holds the fewest
//! anchors so far, so that anchors sharing a prefix spread out.

use super::arena::Arena;

/// Filter bits per anchor: about 1.5 % of a file's windows pass falsely.
/// (A smaller filter, even one setting two bits per key, scanned slower.)
const FILTER_BITS_PER_ANCHOR: usize = 64;

/// Anchors of at least `W` bytes (at most 4), each filed under one
/// `W`-byte window.
#[derive(Debug, Default)]
pub(super) struct Grams<const W: usize> {
    /// Bit per key hash, `1 << filter_bits` bits.
    filter: Vec<u64>,
    filter_bits: u32,
    /// Buckets are the top `bucket_bits` of the hash; `heads[b]` and
    /// `heads[b + 1]` delimit bucket `b`'s entries.
    bucket_bits: u32,
    heads: Vec<u32>,
    entries: Vec<Filed>,
}

/// An anchor under its key.
#[derive(Clone, Copy, Debug)]
struct Filed {
    key: u32,
    anchor: u32,
    /// Where the window starts in the anchor.
    at: u32,
}

/// The key of a window: its bytes, lower-cased when `fold`.
fn key<const W: usize>(window: [u8; W], fold: bool) -> u32 {
    let window = if fold { window.map(|b| b.to_ascii_lowercase()) } else { window };
    window.iter().fold(0, |key, &b| key << 8 | u32::from(b))
}

fn hash(key: u32) -> u64 {
    u64::from(key).wrapping_mul(0x9E37_79B9_7F4A_7C15)
}

/// The top `bits` (1 to 64) of a hash.
fn top(hash: u64, bits: u32) -> usize {
    (hash >> (64 - bits)) as usize
}

/// How many different values the bytes of `window` take.
fn distinct_bytes(window: &[u8]) -> usize {
    window.iter().enumerate().filter(|&(i, b)| !window.iter().take(i).any(|c| c == b)).count()
}

impl<const W: usize> Grams<W> {
    /// File the anchors `ids` of `anchors` (each at least `W` bytes; any
    /// shorter is left out), to be found ignoring ASCII case when `fold`.
    pub fn build(anchors: &Arena, ids: &[u32], fold: bool) -> Grams<W> {
        if ids.is_empty() {
            return Grams::default();
        }
        let filter_bits =
            ids.len().saturating_mul(FILTER_BITS_PER_ANCHOR).next_power_of_two().trailing_zeros().clamp(6, 32);
        let bucket_bits = ids.len().next_power_of_two().trailing_zeros().clamp(1, 30);
        let bucket = |key: u32| top(hash(key), bucket_bits);
        let mut load = vec![0u32; 1 << bucket_bits];
        let mut chosen = Vec::with_capacity(ids.len());
        for &anchor in ids {
            let windows = anchors.get(anchor).unwrap_or_default().windows(W).zip(0..);
            let mut best: Option<(Filed, (usize, std::cmp::Reverse<u32>))> = None;
            for (window, at) in windows {
                let Ok(bytes) = window.try_into() else { continue };
                let key = key::<W>(bytes, fold);
                let rank = (distinct_bytes(window), std::cmp::Reverse(load.get(bucket(key)).copied().unwrap_or(0)));
                if best.as_ref().is_none_or(|(_, best_rank)| rank > *best_rank) {
                    best = Some((Filed { key, anchor, at }, rank));
                }
            }
            if let Some((entry, _)) = best {
                if let Some(n) = load.get_mut(bucket(entry.key)) {
                    *n += 1;
                }
                chosen.push(entry);
            }
        }
        // Entries by bucket: a counting sort, the counts being the loads.
        let mut heads = Vec::with_capacity(load.len() + 1);
        heads.push(0);
        heads.extend(load.iter().scan(0u32, |sum, n| {
            *sum += n;
            Some(*sum)
        }));
        let mut free = heads.clone();
        let mut entries = vec![Filed { key: 0, anchor: 0, at: 0 }; chosen.len()];
        for e in chosen {
            let Some(slot) = free.get_mut(bucket(e.key)) else { continue };
            if let Some(entry) = entries.get_mut(*slot as usize) {
                *entry = e;
            }
            *slot += 1;
        }
        let mut filter = vec![0u64; 1 << (filter_bits - 6)];
        for e in &entries {
            let bit = top(hash(e.key), filter_bits);
            if let Some(word) = filter.get_mut(bit / 64) {
                *word |= 1 << (bit % 64);
            }
        }
        Grams { filter, filter_bits, bucket_bits, heads, entries }
    }

    /// Every occurrence in `data` of a filed anchor, as (anchor, start).
    pub fn hits<'a>(
        &'a self,
        anchors: &'a Arena,
        data: &'a [u8],
        fold: bool,
    ) -> impl Iterator<Item = (u32, usize)> + 'a {
        let searched = if self.entries.is_empty() { &[][..] } else { data };
        let candidates = searched.windows(W).enumerate().filter_map(move |(i, window)| {
            let key = key::<W>(window.try_into().ok()?, fold);
            let hash = hash(key);
            let bit = top(hash, self.filter_bits);
            if self.filter.get(bit / 64)? & 1 << (bit % 64) == 0 {
                return None;
            }
            let bucket = top(hash, self.bucket_bits);
            let entries = self.entries.get(*self.heads.get(bucket)? as usize..*self.heads.get(bucket + 1)? as usize)?;
            Some(entries.iter().filter(move |e| e.key == key).map(move |e| (i, e)))
        });
        candidates.flatten().filter_map(move |(i, e)| {
            let start = i.checked_sub(e.at as usize)?;
            let anchor = anchors.get(e.anchor)?;
            let text = data.get(start..start.checked_add(anchor.len())?)?;
            let found = if fold { text.eq_ignore_ascii_case(anchor) } else { text == anchor };
            found.then_some((e.anchor, start))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hits<const W: usize>(anchors: &[&[u8]], data: &[u8], fold: bool) -> Vec<(u32, usize)> {
        let mut arena = Arena::default();
        let ids: Vec<u32> = anchors.iter().map(|a| arena.push(a).expect("fits")).collect();
        let grams = Grams::<W>::build(&arena, &ids, fold);
        let mut found: Vec<(u32, usize)> = grams.hits(&arena, data, fold).collect();
        found.sort_unstable();
        found
    }

    #[test]
    fn every_occurrence_once_overlapping_ones_included() {
        let anchors: [&[u8]; 4] = [b"abcd", b"bcde", b"abcdef", b"abcd"];
        let found = hits::<4>(&anchors, b"xabcdefabcd", false);
        assert_eq!(found, vec![(0, 1), (0, 7), (1, 2), (2, 1), (3, 1), (3, 7)]);
        assert_eq!(hits::<4>(&[b"aaaaa"], b"aaaaaaa", false), vec![(0, 0), (0, 1), (0, 2)]);
    }

    #[test]
    fn short_anchors_and_file_edges() {
        assert_eq!(hits::<2>(&[b"ab", b"abc"], b"abcab", false), vec![(0, 0), (0, 3), (1, 0)]);
        assert!(hits::<4>(&[b"abcd"], b"abc", false).is_empty());
        assert!(hits::<2>(&[b"ab"], b"", false).is_empty());
    }

    #[test]
    fn folding_ignores_ascii_case_only_when_asked() {
        assert_eq!(hits::<4>(&[b"abcd", b"EFGH"], b"ABcd efgh", true), vec![(0, 0), (1, 5)]);
        assert!(hits::<4>(&[b"abcd"], b"ABcd", false).is_empty());
    }

    #[test]
    fn the_window_avoids_repeated_bytes() {
        let mut arena = Arena::default();
        let id = arena.push(b"\0\0\0\0\0wxyz").expect("fits");
        let grams = Grams::<4>::build(&arena, &[id], false);
        assert_eq!(grams.entries.first().map(|e| e.at), Some(4), "the first window of four distinct bytes");
        assert_eq!(grams.hits(&arena, &[0; 64], false).count(), 0);
    }

    #[test]
    fn many_anchors_with_one_prefix_are_spread_out() {
        let anchors: Vec<Vec<u8>> =
            (0..64u8).map(|i| [b"abcd".as_slice(), &[b'0' + i / 10, b'0' + i % 10]].concat()).collect();
        let mut arena = Arena::default();
        let ids: Vec<u32> = anchors.iter().map(|a| arena.push(a).expect("fits")).collect();
        let grams = Grams::<4>::build(&arena, &ids, false);
        let mut per_key: std::collections::HashMap<u32, usize> = std::collections::HashMap::new();
        for e in &grams.entries {
            *per_key.entry(e.key).or_default() += 1;
        }
        let most = per_key.values().max().copied().unwrap_or_default();
        assert!(most <= 8, "{most} anchors share a key");
        let data = anchors.concat();
        assert_eq!(grams.hits(&arena, &data, false).count(), 64);
    }
}
