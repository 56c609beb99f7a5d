//! The Central Quarantine (SPEC §7): the gateway's durable local store and
//! its forwarder, and the quarantine server every gateway forwards to.

pub mod forward;
pub mod local;
pub mod sample;
pub mod server;
pub mod upload;
