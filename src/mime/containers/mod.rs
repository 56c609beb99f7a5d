//! Containers found inside attachments: each format's file opens it into
//! members (drawing every byte from the [`Budget`]) and, where the format
//! allows in-container replacement (SPEC §5), rebuilds it with some members
//! replaced.

pub mod binhex;
pub mod compressed;
pub mod inline;
pub mod ole;
pub mod pdf;
pub mod sevenz;
pub mod tar;
pub mod tnef;
pub mod uue;
pub mod zip;

use super::detect::FileType;
use super::limits::{Budget, LimitHit, ReadError};
use compressed::Codec;

/// The container formats the decomposer opens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Zip,
    Gzip,
    Bzip2,
    Tar,
    SevenZip,
    Ole2,
    Tnef,
    /// A text with uuencoded or BinHex files in it.
    InlineText,
}

impl Kind {
    /// The container a detected type is opened as, if any.
    pub fn of(t: FileType) -> Option<Kind> {
        Some(match t {
            FileType::Zip => Kind::Zip,
            FileType::Gzip => Kind::Gzip,
            FileType::Bzip2 => Kind::Bzip2,
            FileType::Tar => Kind::Tar,
            FileType::SevenZip => Kind::SevenZip,
            FileType::Ole2 => Kind::Ole2,
            FileType::Tnef => Kind::Tnef,
            FileType::Text => Kind::InlineText,
            _ => return None,
        })
    }
}

/// The members of a container, extracted through the budget; members sit
/// at nesting `depth`.
pub fn open(kind: Kind, data: &[u8], budget: &mut Budget, depth: usize) -> Result<Vec<Member>, OpenError> {
    match kind {
        Kind::Zip => zip::open(data, budget, depth),
        Kind::Gzip => compressed::open(Codec::Gzip, data, budget, depth),
        Kind::Bzip2 => compressed::open(Codec::Bzip2, data, budget, depth),
        Kind::Tar => tar::open(data, budget, depth),
        Kind::SevenZip => sevenz::open(data, budget, depth),
        Kind::Ole2 => ole::open(data, budget, depth),
        Kind::Tnef => tnef::open(data, budget, depth),
        Kind::InlineText => inline::open(data, budget, depth),
    }
}

/// The container with `changes` applied; `None` when the format cannot
/// hold the change in place (then the whole container is removed).
/// `budget` bounds any decoding the rebuild repeats.
pub fn rebuild(kind: Kind, data: &[u8], changes: &[Change], budget: &mut Budget) -> Option<Result<Vec<u8>, String>> {
    match kind {
        Kind::Zip => Some(zip::rebuild(data, changes)),
        Kind::Tar => Some(tar::rebuild(data, changes)),
        Kind::Gzip => compressed::rebuild(Codec::Gzip, changes),
        Kind::Bzip2 => compressed::rebuild(Codec::Bzip2, changes),
        Kind::InlineText => Some(inline::rebuild(data, changes, budget)),
        Kind::SevenZip | Kind::Ole2 | Kind::Tnef => None,
    }
}

/// One file inside a container.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Member {
    /// Its name or path inside the container (`docs/a.exe`); may be empty
    /// when the format stores none.
    pub name: String,
    /// The extracted bytes (empty when `encrypted`).
    pub data: Vec<u8>,
    /// Locked by a password: the bytes could not be read.
    pub encrypted: bool,
}

/// A file encoded inline in a text body (uuencode, BinHex), with where its
/// encoded form sits in that text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Block {
    /// Byte range of the whole encoded block in the text, from the first
    /// byte of its opening line to just after its closing line's newline.
    pub start: usize,
    pub end: usize,
    pub member: Member,
}

/// Why a container could not be opened completely.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OpenError {
    /// A decomposition limit was hit: a container violation.
    Limit(LimitHit),
    /// Damaged, truncated or not the format it looks like.
    Corrupt(String),
    /// The whole container is locked (e.g. 7z with encrypted headers).
    Encrypted,
}

impl From<LimitHit> for OpenError {
    fn from(hit: LimitHit) -> OpenError {
        OpenError::Limit(hit)
    }
}

impl From<ReadError> for OpenError {
    fn from(e: ReadError) -> OpenError {
        match e {
            ReadError::Limit(hit) => OpenError::Limit(hit),
            ReadError::Corrupt(why) => OpenError::Corrupt(why),
        }
    }
}

/// What becomes of one member when its container is rebuilt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Replacement {
    /// Same name, new content (a nested container that was rebuilt).
    Content(Vec<u8>),
    /// Removed and replaced by a text file `DELETEDn.TXT` holding `text`
    /// (in-container rename and replace).
    Deleted { n: usize, text: String },
}

impl Replacement {
    /// The name a deleted member's stand-in gets.
    pub fn deleted_name(n: usize) -> String {
        format!("DELETED{n}.TXT")
    }
}

/// A change to the member at `index` (its position in the opened list).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    pub index: usize,
    pub replacement: Replacement,
}
