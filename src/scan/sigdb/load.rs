//! Loading database files into a [`Database`]: packages are unpacked,
//! line files cut into chunks of whole lines, the chunks parsed in
//! parallel (a database is a few large files, and parsing is most of the
//! load time) and the parts joined in order, so that signature ids,
//! result order and problem reports are what loading line by line gives.

use super::anchors::{AnchorSetBuilder, Owner, Program};
use super::arena::Arena;
use super::hash::{FileHash, HashIndex};
use super::logical::MAX_SUBSIGS;
use super::{Database, LoadReport, Logical, NamedFiles, body, hash, logical, read_cvd};
use std::borrow::Cow;
use std::num::NonZeroUsize;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};

/// About how many bytes of lines one chunk holds: small enough to share
/// the work evenly between threads, large enough to cost nothing to join.
const CHUNK_BYTES: usize = 256 * 1024;

/// Database files by extension.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Lines(LineFormat),
    /// A .cvd/.cld package of further files.
    Package,
}

/// The line formats.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum LineFormat {
    Hashes,
    AllowList,
    Body,
    Logical,
}

impl Kind {
    fn of(file: &str) -> Option<Kind> {
        let (_, extension) = file.rsplit_once('.')?;
        match extension.to_ascii_lowercase().as_str() {
            "hdb" | "hsb" => Some(Kind::Lines(LineFormat::Hashes)),
            "fp" | "sfp" => Some(Kind::Lines(LineFormat::AllowList)),
            "ndb" => Some(Kind::Lines(LineFormat::Body)),
            "ldb" => Some(Kind::Lines(LineFormat::Logical)),
            "cvd" | "cld" => Some(Kind::Package),
            _ => None,
        }
    }
}

/// Load every database file in `dir` (see [`Database::load_dir`]).
pub(super) fn dir(dir: &Path) -> Result<Database, String> {
    let entries = std::fs::read_dir(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let mut problems = Vec::new();
    let mut files = Vec::new();
    for entry in entries {
        match entry {
            Ok(entry) => {
                let name = entry.file_name().to_string_lossy().into_owned();
                if Kind::of(&name).is_some() && entry.path().is_file() {
                    files.push(name);
                }
            }
            Err(e) => problems.push(format!("{}: {e}", dir.display())),
        }
    }
    files.sort();
    let sources = in_parallel(&files, |name| match std::fs::read(dir.join(name)) {
        Ok(bytes) => sources(name, Cow::Owned(bytes), false),
        Err(e) => vec![Source::Problem(format!("{name}: cannot read: {e}"))],
    });
    Ok(load(problems, &sources.into_iter().flatten().collect::<Vec<_>>()))
}

/// Load (file name, bytes) pairs in the order given.
pub(super) fn files(files: &NamedFiles) -> Database {
    let sources = in_parallel(files, |(name, bytes)| sources(name, Cow::Borrowed(bytes), false));
    load(Vec::new(), &sources.into_iter().flatten().collect::<Vec<_>>())
}

/// A file of lines to load, or why a file cannot be used.
enum Source<'a> {
    Lines { name: String, format: LineFormat, bytes: Cow<'a, [u8]> },
    Problem(String),
}

/// The line files in file `name`: itself, or a package's members (`in_package`
/// when it came out of one).
fn sources<'a>(name: &str, bytes: Cow<'a, [u8]>, in_package: bool) -> Vec<Source<'a>> {
    match Kind::of(name) {
        None => Vec::new(),
        Some(Kind::Package) if in_package => vec![Source::Problem(format!("{name}: package inside a package ignored"))],
        Some(Kind::Package) => match read_cvd(&bytes) {
            Ok((_, members)) => members
                .into_iter()
                .flat_map(|(member, content)| sources(&format!("{name}/{member}"), Cow::Owned(content), true))
                .collect(),
            Err(e) => vec![Source::Problem(format!("{name}: {e}"))],
        },
        Some(Kind::Lines(format)) => vec![Source::Lines { name: name.to_string(), format, bytes }],
    }
}

/// A unit of parsing work.
enum Work<'s> {
    /// Whole lines of a file, the first of them numbered `first_line`.
    Lines {
        name: &'s str,
        format: LineFormat,
        lines: &'s [u8],
        first_line: usize,
    },
    Problem(&'s str),
}

/// Parse `sources` chunk by chunk in parallel and join the parts, after
/// the `problems` found before.
fn load(problems: Vec<String>, sources: &[Source<'_>]) -> Database {
    let mut work = Vec::new();
    for source in sources {
        match source {
            Source::Problem(problem) => work.push(Work::Problem(problem)),
            Source::Lines { name, format, bytes } => {
                let mut first_line = 1;
                for lines in chunks(bytes) {
                    work.push(Work::Lines { name, format: *format, lines, first_line });
                    first_line += memchr::memchr_iter(b'\n', lines).count();
                }
            }
        }
    }
    let parts = in_parallel(&work, |work| {
        let mut part = Part::default();
        match work {
            Work::Lines { name, format, lines, first_line } => part.lines(name, *format, lines, *first_line),
            Work::Problem(problem) => part.report.problems.push((*problem).to_string()),
        }
        part
    });
    join(problems, parts)
}

/// Join `parts`, loaded in this order, after the `problems` found before
/// them: each part's ids come after the previous parts'. The hash indexes
/// and the anchor set are then built at the same time.
fn join(problems: Vec<String>, parts: Vec<Part>) -> Database {
    let mut report = LoadReport { signatures: 0, problems };
    let mut names = Arena::default();
    let mut logical = Vec::new();
    let mut anchors = AnchorSetBuilder::default();
    // Each part's hash and allow-list signatures, with its first id.
    let mut hashes = Vec::with_capacity(parts.len());
    for part in parts {
        report.problems.extend(part.report.problems);
        // Logical signatures have names, so there are no more of them.
        let (ids, logicals) = (names.len(), u32::try_from(logical.len()).unwrap_or(u32::MAX));
        if let Err(e) = names.append(&part.names).and_then(|()| anchors.append(part.anchors, ids, logicals)) {
            report.problems.push(format!("{e}: {} signatures not loaded", part.report.signatures));
            continue;
        }
        logical.extend(part.logical.into_iter().map(|l| Logical { id: l.id.saturating_add(ids), sig: l.sig }));
        hashes.push((part.hashes, part.allow, ids));
        report.signatures += part.report.signatures;
    }
    let moved = |(hash, id): &(FileHash, u32), base: u32| (*hash, id.saturating_add(base));
    let hash_sigs = || hashes.iter().flat_map(move |(list, _, base)| list.iter().map(move |sig| moved(sig, *base)));
    let allow_sigs = || hashes.iter().flat_map(move |(_, list, base)| list.iter().map(move |sig| moved(sig, *base)));
    let ((hashes, allow), anchors) = std::thread::scope(|scope| {
        let indexes = scope.spawn(|| (HashIndex::new(hash_sigs()), HashIndex::new(allow_sigs())));
        let anchors = anchors.build();
        match indexes.join() {
            Ok(indexes) => (indexes, anchors),
            Err(panic) => std::panic::resume_unwind(panic),
        }
    });
    let none = [0; MAX_SUBSIGS];
    let unconditional = (0..).zip(&logical).filter(|(_, l)| l.sig.holds(&none)).map(|(i, _)| i).collect();
    Database { names, hashes, allow, anchors, logical, unconditional, report }
}

/// `bytes` cut after a newline about every [`CHUNK_BYTES`].
fn chunks(mut bytes: &[u8]) -> impl Iterator<Item = &[u8]> {
    std::iter::from_fn(move || {
        if bytes.is_empty() {
            return None;
        }
        let end = bytes
            .get(CHUNK_BYTES..)
            .and_then(|rest| memchr::memchr(b'\n', rest))
            .map_or(bytes.len(), |newline| CHUNK_BYTES + newline + 1);
        let (chunk, rest) = bytes.split_at(end);
        bytes = rest;
        Some(chunk)
    })
}

/// `f` of each item, in order, computed on as many threads as there are
/// cores, each taking the next item when done with one.
fn in_parallel<'a, T: Sync, R: Send>(items: &'a [T], f: impl Fn(&'a T) -> R + Sync) -> Vec<R> {
    let threads = std::thread::available_parallelism().map_or(1, NonZeroUsize::get).min(items.len());
    let next = AtomicUsize::new(0);
    let work = || {
        let mut done = Vec::new();
        loop {
            let index = next.fetch_add(1, Ordering::Relaxed);
            let Some(item) = items.get(index) else { return done };
            done.push((index, f(item)));
        }
    };
    let mut done = std::thread::scope(|scope| {
        let helpers: Vec<_> = (1..threads).map(|_| scope.spawn(work)).collect();
        let mut done = work();
        for helper in helpers {
            match helper.join() {
                Ok(more) => done.extend(more),
                Err(panic) => std::panic::resume_unwind(panic),
            }
        }
        done
    });
    done.sort_unstable_by_key(|(index, _)| *index);
    done.into_iter().map(|(_, result)| result).collect()
}

/// What one chunk of lines holds, its ids counted from zero.
#[derive(Default)]
struct Part {
    names: Arena,
    /// Hash and allow-list signatures with their ids.
    hashes: Vec<(FileHash, u32)>,
    allow: Vec<(FileHash, u32)>,
    anchors: AnchorSetBuilder,
    logical: Vec<Logical>,
    report: LoadReport,
}

impl Part {
    /// Load the lines of file `name`, the first of them numbered `first_line`.
    fn lines(&mut self, name: &str, format: LineFormat, lines: &[u8], first_line: usize) {
        for (number, line) in (first_line..).zip(lines.split(|&b| b == b'\n')) {
            let Ok(line) = std::str::from_utf8(line) else {
                self.report.problems.push(format!("{name}:{number}: not UTF-8"));
                continue;
            };
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            match self.line(format, line) {
                Ok(()) => self.report.signatures += 1,
                Err(reason) => self.report.problems.push(format!("{name}:{number}: {reason}")),
            }
        }
    }

    fn line(&mut self, format: LineFormat, line: &str) -> Result<(), String> {
        match format {
            LineFormat::Hashes | LineFormat::AllowList => {
                let (hash, name) = hash::parse_line(line)?;
                let id = self.name(name)?;
                let list = if format == LineFormat::Hashes { &mut self.hashes } else { &mut self.allow };
                list.push((hash, id));
            }
            LineFormat::Body => {
                let sig = body::parse_line(line)?;
                let id = self.name(sig.name)?;
                for pattern in sig.patterns {
                    let owner = Owner::Body(id);
                    self.anchors.add(Program {
                        pattern,
                        target: sig.target,
                        offset: sig.offset,
                        fullword: false,
                        owner,
                    })?;
                }
            }
            LineFormat::Logical => {
                let (name, sig, subsigs) = logical::parse_line(line)?;
                let index = u32::try_from(self.logical.len()).map_err(|_| "too many logical signatures")?;
                for (sub, subsig) in subsigs.into_iter().enumerate() {
                    for pattern in subsig.patterns {
                        let owner = Owner::Logical { sig: index, sub };
                        let (offset, fullword) = (subsig.offset, subsig.fullword);
                        self.anchors.add(Program { pattern, target: sig.target, offset, fullword, owner })?;
                    }
                }
                let id = self.name(name)?;
                self.logical.push(Logical { id, sig });
            }
        }
        Ok(())
    }

    /// Record a signature name; its id orders the scan's results.
    fn name(&mut self, name: &str) -> Result<u32, String> {
        self.names.push(name.as_bytes()).map_err(|_| "too many signatures".to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_end_after_a_newline_and_cover_everything() {
        let text: Vec<u8> = (0..100_000).flat_map(|i| format!("line {i}\n").into_bytes()).collect();
        let cut: Vec<&[u8]> = chunks(&text).collect();
        assert!(cut.len() > 2);
        assert!(cut.iter().all(|c| c.ends_with(b"\n")));
        assert_eq!(cut.concat(), text);
        assert_eq!(chunks(b"no newline").collect::<Vec<_>>(), vec![b"no newline"]);
        assert_eq!(chunks(b"").count(), 0);
    }

    #[test]
    fn line_numbers_and_ids_follow_the_file_across_chunks() {
        let lines: Vec<String> = (0..30_000).map(|i| format!("Sig.{i}:0:*:{i:08x}41424344")).collect();
        let mut text = lines.join("\n");
        text.push_str("\nBroken:0:*:zz\n");
        let db = Database::from_files(vec![("a.ndb".into(), text.into_bytes())]);
        assert_eq!(db.report().signatures, 30_000);
        assert_eq!(db.report().problems.len(), 1);
        assert!(db.report().problems[0].starts_with("a.ndb:30001: "), "{:?}", db.report().problems);
        let data = [29_999u32.to_be_bytes().as_slice(), b"ABCD"].concat();
        let found = db.scan(&data, crate::mime::detect::FileType::Other);
        assert_eq!(found, vec!["Sig.29999"]);
    }

    #[test]
    fn in_parallel_keeps_the_order() {
        let items: Vec<usize> = (0..1000).collect();
        assert_eq!(in_parallel(&items, |i| i * 2), items.iter().map(|i| i * 2).collect::<Vec<_>>());
        assert!(in_parallel(&[] as &[usize], |i| *i).is_empty());
    }
}
