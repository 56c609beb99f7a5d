//! A text body as a container of the files encoded inline in it
//! (uuencode, BinHex 4.0). Rebuilding re-encodes a replaced file in the
//! same encoding at the same place, leaving the rest of the text as it was.

use super::{Block, Change, Member, OpenError, Replacement, binhex, uue};
use crate::mime::limits::Budget;

/// Cheap test before decoding: does the text announce an inline file?
pub fn has_inline_files(text: &[u8]) -> bool {
    let has = |needle: &[u8]| text.windows(needle.len()).any(|w| w == needle);
    has(b"begin ") || has(b"(This file must be converted with BinHex")
}

/// Which inline encoding a block uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Encoding {
    Uuencode,
    BinHex,
}

/// Every inline block, in text order.
fn blocks(text: &[u8], budget: &mut Budget, depth: usize) -> Result<Vec<(Encoding, Block)>, OpenError> {
    let mut all: Vec<(Encoding, Block)> = uue::find(text, budget, depth)?
        .into_iter()
        .map(|b| (Encoding::Uuencode, b))
        .chain(binhex::find(text, budget, depth)?.into_iter().map(|b| (Encoding::BinHex, b)))
        .collect();
    all.sort_by_key(|(_, b)| b.start);
    Ok(all)
}

/// The files encoded in `text`.
pub fn open(text: &[u8], budget: &mut Budget, depth: usize) -> Result<Vec<Member>, OpenError> {
    Ok(blocks(text, budget, depth)?.into_iter().map(|(_, b)| b.member).collect())
}

/// `text` with changed files re-encoded in place. `budget` bounds the
/// second decoding pass that finds the blocks again.
pub fn rebuild(text: &[u8], changes: &[Change], budget: &mut Budget) -> Result<Vec<u8>, String> {
    let found = blocks(text, budget, 0).map_err(|e| format!("{e:?}"))?;
    let mut out = Vec::with_capacity(text.len());
    let mut cursor = 0;
    for (index, (encoding, block)) in found.iter().enumerate() {
        let Some(change) = changes.iter().find(|c| c.index == index) else { continue };
        if block.start < cursor {
            continue; // overlapping blocks: the first one was already replaced
        }
        let (name, data) = match &change.replacement {
            Replacement::Content(bytes) => (block.member.name.clone(), bytes.as_slice()),
            Replacement::Deleted { n, text } => (Replacement::deleted_name(*n), text.as_bytes()),
        };
        out.extend_from_slice(&text[cursor..block.start]);
        out.extend(match encoding {
            Encoding::Uuencode => uue::encode(&name, data),
            Encoding::BinHex => binhex::encode(&name, data),
        });
        cursor = block.end;
    }
    out.extend_from_slice(&text[cursor..]);
    Ok(out)
}
