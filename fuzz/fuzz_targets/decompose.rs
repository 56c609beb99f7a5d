//! Any bytes as a message: decomposition never panics and never extracts
//! more than its budget, and putting the message back together with every
//! part deleted never panics either.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mxguard::config::ContainerRule;
use mxguard::mime::{decompose, rebuild};

const LIMIT_MB: u64 = 4;

fuzz_target!(|data: &[u8]| {
    let rule = ContainerRule { max_extract_mb: LIMIT_MB, max_seconds: 10, ..ContainerRule::default() };
    let parts = decompose(data, &rule);
    let extracted: usize = parts.all().iter().filter(|p| p.depth > 0).map(|p| p.data.len()).sum();
    assert!(extracted as u64 <= LIMIT_MB * 1024 * 1024, "extracted {extracted} bytes past the budget");
    let everything: rebuild::Edits =
        parts.all().iter().map(|p| (p.path.clone(), rebuild::Edit::Delete(Some("gone".to_string())))).collect();
    let _ = rebuild::rebuild(data, &parts.parts, &everything);
});
