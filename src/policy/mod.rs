//! Policy rules. Connection and envelope rules live here now; the content
//! blocking rules of SPEC §4 join them as one file each.

pub mod chars;
pub mod hosts;
pub mod relay;
