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

/// The functionality level ClamAV requires on a `*` size.
const WILDCARD_SIZE_FLEVEL: u32 = 73;
/// Longest digest (SHA-256), in bytes.
const MAX_DIGEST: usize = 32;

/// A hash algorithm.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Algo {
    Md5,
    Sha1,
    Sha256,
}

impl Algo {
    fn from_hex_len(len: usize) -> Option<Algo> {
        match len {
            32 => Some(Algo::Md5),
            40 => Some(Algo::Sha1),
            64 => Some(Algo::Sha256),
            _ => None,
        }
    }
}

/// What a hash line matches: a digest and the file size (None for `*`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct FileHash {
    pub algo: Algo,
    /// The digest, zero-padded after the algorithm's length.
    digest: [u8; MAX_DIGEST],
    pub size: Option<u64>,
}

/// Parse `Hash:Size:Name[:MinFL[:MaxFL]]` into what it matches and the name.
pub(super) fn parse_line(line: &str) -> Result<(FileHash, &str), String> {
    let mut fields = line.split(':');
    let (Some(hash), Some(size), Some(name)) = (fields.next(), fields.next(), fields.next()) else {
        return Err("expected Hash:Size:Name".into());
    };
    let (min, max) = (fields.next(), fields.next());
    if fields.next().is_some() {
        return Err("too many fields".into());
    }
    let algo = Algo::from_hex_len(hash.len())
        .ok_or_else(|| format!("digest of {} hex digits is no MD5, SHA-1 or SHA-256", hash.len()))?;
    let digest = decode_hex(hash).ok_or("digest is not hexadecimal")?;
    let size = match size {
        "*" => None,
        s => Some(s.parse::<u64>().map_err(|_| format!("bad size {s:?}"))?),
    };
    if name.is_empty() {
        return Err("empty signature name".into());
    }
    if size.is_none() {
        let min_level = min.and_then(|m| m.parse::<u32>().ok()).unwrap_or(0);
        if min_level < WILDCARD_SIZE_FLEVEL {
            return Err(format!("a * size needs a minimum functionality level of at least {WILDCARD_SIZE_FLEVEL}"));
        }
    }
    flevel_allows(min, max)?;
    Ok((FileHash { algo, digest, size }, name))
}

/// Up to [`MAX_DIGEST`] bytes from hex digits, zero-padded.
fn decode_hex(text: &str) -> Option<[u8; MAX_DIGEST]> {
    let digit = |c: u8| char::from(c).to_digit(16).and_then(|d| u8::try_from(d).ok());
    let pairs = text.as_bytes().chunks(2);
    if pairs.len() > MAX_DIGEST {
        return None;
    }
    let mut digest = [0; MAX_DIGEST];
    for (byte, pair) in digest.iter_mut().zip(pairs) {
        *byte = digit(*pair.first()?)? << 4 | digit(*pair.get(1)?)?;
    }
    Some(digest)
}

/// The signatures of one algorithm (digests of `N` bytes), sorted so
/// that a file's size and then its digest are found by binary search.
#[derive(Debug, Default)]
struct Table<const N: usize> {
    /// (size, digest, id) of the signatures with a size.
    sized: Vec<(u64, [u8; N], u32)>,
    /// (digest, id) of the signatures with a `*` size.
    any_size: Vec<([u8; N], u32)>,
}

impl<const N: usize> Table<N> {
    fn new(sigs: impl Iterator<Item = (FileHash, u32)>) -> Table<N> {
        let mut table = Table::default();
        for (hash, id) in sigs {
            let Some(&digest) = hash.digest.first_chunk::<N>() else { continue };
            match hash.size {
                Some(size) => table.sized.push((size, digest, id)),
                None => table.any_size.push((digest, id)),
            }
        }
        table.sized.sort_unstable();
        table.any_size.sort_unstable();
        table
    }

    /// Add the ids of the signatures matching the file behind `digests`
    /// (whose digest is `algo`'s), computing the digest only if some
    /// signature has the file's size or `*`.
    fn matches(&self, digests: &mut Digests<'_>, algo: Algo, ids: &mut Vec<u32>) {
        let len = digests.len();
        let sized = &self.sized[self.sized.partition_point(|row| row.0 < len)..];
        let sized = &sized[..sized.partition_point(|row| row.0 == len)];
        if sized.is_empty() && self.any_size.is_empty() {
            return;
        }
        let digest = digests.get(algo);
        let same = &sized[sized.partition_point(|row| row.1.as_slice() < digest)..];
        ids.extend(same.iter().take_while(|row| row.1.as_slice() == digest).map(|row| row.2));
        let same = &self.any_size[self.any_size.partition_point(|row| row.0.as_slice() < digest)..];
        ids.extend(same.iter().take_while(|row| row.0.as_slice() == digest).map(|row| row.1));
    }
}

/// Hash signatures indexed for lookup by size, then digest.
#[derive(Debug, Default)]
pub(super) struct HashIndex {
    md5: Table<16>,
    sha1: Table<20>,
    sha256: Table<32>,
}

impl HashIndex {
    /// An index of `sigs`, each reported as its id when it matches.
    pub fn new(sigs: impl Iterator<Item = (FileHash, u32)> + Clone) -> HashIndex {
        let of = |algo: Algo| sigs.clone().filter(move |(hash, _)| hash.algo == algo);
        HashIndex {
            md5: Table::new(of(Algo::Md5)),
            sha1: Table::new(of(Algo::Sha1)),
            sha256: Table::new(of(Algo::Sha256)),
        }
    }

    /// Ids of the signatures matching the file behind `digests`.
    pub fn matches(&self, digests: &mut Digests<'_>) -> Vec<u32> {
        let mut ids = Vec::new();
        self.md5.matches(digests, Algo::Md5, &mut ids);
        self.sha1.matches(digests, Algo::Sha1, &mut ids);
        self.sha256.matches(digests, Algo::Sha256, &mut ids);
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
        HashIndex::new((0..).zip(lines).map(|(id, line)| (parse_line(line).expect("valid").0, id)))
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
