//! Step 1: take the message apart within the container limits.

use super::{Step, Verdict, Work};
use crate::mime;

/// Decomposes the message and leaves the tree for the later steps.
pub struct Decompose;

impl Step for Decompose {
    fn name(&self) -> &'static str {
        "decompose"
    }

    fn apply(&self, work: &mut Work<'_>) -> Verdict {
        work.parts = Some(mime::decompose(&work.msg.content, &work.config.blocking.container));
        Verdict::Continue
    }
}
