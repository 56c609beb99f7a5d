//! Whole-file hash signatures: `.hdb`, `.hsb` and the `.fp`/`.sfp`
//! allow-lists, all `Hash:Size:Name[:MinFL[:MaxFL]]`. As in ClamAV the
//! algorithm follows from the digest's length (MD5, SHA-1, SHA-256) in
//! every one of these files, and a `*` size needs a minimum functionality
//! level of at least 73. A digest is computed only when some signature of
//! that algorithm has the file's size or `*`.

use super::flevel_allows;
use md5::Md5;
use sha1::Sha1;
use sha2::{Digest, Sha256};
use std::collections::HashMap;

/// The functionality level ClamAV requires on a `*` size.
const WILDCARD_SIZE_FLEVEL: u32 = 73;

/// A hash algorithm.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Algo {
    Md5,
    Sha1,
    Sha256,
}

impl Algo {
    const ALL: [Algo; 3] = [Algo::Md5, Algo::Sha1, Algo::Sha256];

    fn from_hex_len(len: usize) -> Option<Algo> {
        match len {
            32 => Some(Algo::Md5),
            40 => Some(Algo::Sha1),
            64 => Some(Algo::Sha256),
            _ => None,
        }
    }

    fn bit(self) -> u8 {
        1 << self as u8
    }
}

/// One parsed hash line.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct HashSig {
    pub algo: Algo,
    pub digest: Vec<u8>,
    /// None for `*`.
    pub size: Option<u64>,
    pub name: String,
}

/// Parse `Hash:Size:Name[:MinFL[:MaxFL]]`.
pub(super) fn parse_line(line: &str) -> Result<HashSig, String> {
    let fields: Vec<&str> = line.split(':').collect();
    let [hash, size, name, levels @ ..] = fields.as_slice() else {
        return Err("expected Hash:Size:Name".into());
    };
    if levels.len() > 2 {
        return Err("too many fields".into());
    }
    let algo = Algo::from_hex_len(hash.len())
        .ok_or_else(|| format!("digest of {} hex digits is no MD5, SHA-1 or SHA-256", hash.len()))?;
    let digest = decode_hex(hash).ok_or("digest is not hexadecimal")?;
    let size = match *size {
        "*" => None,
        s => Some(s.parse::<u64>().map_err(|_| format!("bad size {s:?}"))?),
    };
    if name.is_empty() {
        return Err("empty signature name".into());
    }
    let (min, max) = (levels.first().copied(), levels.get(1).copied());
    if size.is_none() {
        let min_level = min.and_then(|m| m.parse::<u32>().ok()).unwrap_or(0);
        if min_level < WILDCARD_SIZE_FLEVEL {
            return Err(format!("a * size needs a minimum functionality level of at least {WILDCARD_SIZE_FLEVEL}"));
        }
    }
    flevel_allows(min, max)?;
    Ok(HashSig { algo, digest, size, name: (*name).to_string() })
}

fn decode_hex(text: &str) -> Option<Vec<u8>> {
    let digit = |c: u8| char::from(c).to_digit(16).and_then(|d| u8::try_from(d).ok());
    text.as_bytes().chunks(2).map(|pair| Some(digit(*pair.first()?)? << 4 | digit(*pair.get(1)?)?)).collect()
}

/// Who a digest belongs to.
#[derive(Debug)]
struct Entry {
    size: Option<u64>,
    id: u32,
}

/// Hash signatures indexed for lookup: which algorithms are needed for a
/// size, then digest → signatures.
#[derive(Debug, Default)]
pub(super) struct HashIndex {
    /// Algorithms (bit per [`Algo`]) with a signature of that size.
    sizes: HashMap<u64, u8>,
    /// Algorithms with a `*` size signature.
    any_size: u8,
    digests: [HashMap<Box<[u8]>, Vec<Entry>>; 3],
}

impl HashIndex {
    /// Add `sig`, reported as `id` when it matches.
    pub fn insert(&mut self, sig: HashSig, id: u32) {
        match sig.size {
            Some(size) => *self.sizes.entry(size).or_default() |= sig.algo.bit(),
            None => self.any_size |= sig.algo.bit(),
        }
        if let Some(table) = self.digests.get_mut(sig.algo as usize) {
            table.entry(sig.digest.into_boxed_slice()).or_default().push(Entry { size: sig.size, id });
        }
    }

    /// Ids of the signatures matching the file behind `digests`.
    pub fn matches(&self, digests: &mut Digests<'_>) -> Vec<u32> {
        let len = digests.len();
        let needed = self.any_size | self.sizes.get(&len).copied().unwrap_or(0);
        let mut ids = Vec::new();
        for algo in Algo::ALL {
            if needed & algo.bit() == 0 {
                continue;
            }
            let Some(table) = self.digests.get(algo as usize) else { continue };
            if let Some(entries) = table.get(digests.get(algo)) {
                ids.extend(entries.iter().filter(|e| e.size.is_none_or(|s| s == len)).map(|e| e.id));
            }
        }
        ids
    }
}

/// A file's digests, each computed the first time it is asked for.
pub(super) struct Digests<'a> {
    data: &'a [u8],
    computed: [Option<Vec<u8>>; 3],
}

impl<'a> Digests<'a> {
    /// Digests of `data`, none computed yet.
    pub fn new(data: &'a [u8]) -> Digests<'a> {
        Digests { data, computed: [None, None, None] }
    }

    fn len(&self) -> u64 {
        u64::try_from(self.data.len()).unwrap_or(u64::MAX)
    }

    fn get(&mut self, algo: Algo) -> &[u8] {
        let data = self.data;
        match self.computed.get_mut(algo as usize) {
            Some(slot) => slot.get_or_insert_with(|| match algo {
                Algo::Md5 => Md5::digest(data).to_vec(),
                Algo::Sha1 => Sha1::digest(data).to_vec(),
                Algo::Sha256 => Sha256::digest(data).to_vec(),
            }),
            None => &[],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HELLO: &[u8] = b"hello world\n";
    const MD5: &str = "6f5902ac237024bdd0c176cb93063dc4";
    const SHA1: &str = "22596363b3de40b06f981fb85d82312e8c0ed511";
    const SHA256: &str = "a948904f2f0f479b8f8197694b30184b0d2ed1c1cd2a1ec0fb85d299a192a447";

    fn index(lines: &[&str]) -> HashIndex {
        let mut index = HashIndex::default();
        for (id, line) in (0..).zip(lines) {
            index.insert(parse_line(line).expect("valid line"), id);
        }
        index
    }

    fn hits(index: &HashIndex, data: &[u8]) -> Vec<u32> {
        index.matches(&mut Digests::new(data))
    }

    #[test]
    fn each_algorithm_with_size() {
        for hash in [MD5, SHA1, SHA256, &MD5.to_uppercase()] {
            let index = index(&[&format!("{hash}:12:Hello")]);
            assert_eq!(hits(&index, HELLO), vec![0], "{hash}");
            assert!(hits(&index, b"hello world!").is_empty(), "same size, other content");
        }
    }

    #[test]
    fn size_must_agree() {
        let index = index(&[&format!("{MD5}:13:Hello"), &format!("{SHA256}:11:Hello")]);
        assert!(hits(&index, HELLO).is_empty());
    }

    #[test]
    fn wildcard_size_needs_flevel_73() {
        for hash in [MD5, SHA1, SHA256] {
            let index = index(&[&format!("{hash}:*:Hello:73")]);
            assert_eq!(hits(&index, HELLO), vec![0]);
            assert!(hits(&index, b"other").is_empty());
            assert!(parse_line(&format!("{hash}:*:Hello")).is_err());
            assert!(parse_line(&format!("{hash}:*:Hello:72")).is_err());
        }
    }

    #[test]
    fn digests_only_when_a_size_needs_them() {
        let index = index(&[&format!("{SHA1}:12:Hello")]);
        let mut digests = Digests::new(b"a different size");
        assert!(index.matches(&mut digests).is_empty());
        assert!(digests.computed.iter().all(Option::is_none));
        let mut digests = Digests::new(HELLO);
        assert_eq!(index.matches(&mut digests), vec![0]);
        assert!(digests.computed[Algo::Sha1 as usize].is_some());
        assert!(digests.computed[Algo::Md5 as usize].is_none());
    }

    #[test]
    fn functionality_levels_gate_lines() {
        assert!(parse_line(&format!("{MD5}:12:Hello:10:300")).is_ok());
        assert!(parse_line(&format!("{MD5}:12:Hello:300")).is_err());
        assert!(parse_line(&format!("{MD5}:12:Hello:10:100")).is_err());
    }

    #[test]
    fn malformed_lines() {
        for bad in [
            "",
            MD5,
            &format!("{MD5}:12"),
            &format!("{MD5}:x:Hello"),
            &format!("{MD5}:12:"),
            &format!("{}:12:Hello", &MD5[..31]),
            &format!("{}zz:12:Hello", &MD5[..30]),
            &format!("{MD5}:12:Hello:1:300:9"),
            &format!("{MD5}:12:Hello:abc"),
        ] {
            assert!(parse_line(bad).is_err(), "{bad:?}");
        }
    }
}
