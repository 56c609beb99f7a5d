//! The Central Quarantine server (`mxguard quarantine serve`, SPEC §7):
//! gateways upload infected files over HTTPS; administrators list, inspect,
//! restore, rescan, submit and delete them through a JSON API. Samples are
//! stored once per SHA-256 in an inert form, items and their history in
//! SQLite.
//!
//! Extension points for what comes next (web UI, signature creation, the
//! too-long-in-status watchdog): [`service::Quarantine::change`] is the one
//! way an item's status changes (with its history entry), and
//! [`rescan::rescan_all`] rescans every item with the server's definitions.

pub mod api;
pub mod auth;
pub mod config;
pub mod defs;
pub mod error;
pub mod index;
pub mod inert;
pub mod item;
pub mod query;
pub mod quota;
pub mod receive;
pub mod rescan;
pub mod restore;
pub mod serve;
pub mod service;
pub mod status;
pub mod store;
pub mod strip;
pub mod submit;

pub use config::Settings;
pub use serve::serve;
