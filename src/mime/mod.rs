//! MIME decomposition (SPEC §5): every message taken apart into a tree of
//! parts — MIME parts, nested messages, inline encodings and archives —
//! within one budget per message, and put back together with blocked or
//! infected parts replaced.

pub mod containers;
pub mod decompose;
pub mod detect;
pub mod headers;
pub mod limits;
pub mod names;
pub mod parse;
pub mod rebuild;

pub use decompose::{Decomposition, Holds, Origin, Part, decompose, decompose_file};
