//! The Central Quarantine server (`mxguard quarantine serve`, SPEC §7):
//! gateways upload infected files over HTTPS; administrators list, inspect,
//! restore, rescan, submit and delete them through a JSON API and browser
//! pages (logon as on the gateway). Samples are stored once per SHA-256 in
//! an inert form, items and their history in SQLite.
//!
//! [`service::Quarantine::change`] is the one way an item's status changes
//! (with its history entry); [`rescan::rescan_all`] rescans every item with
//! the server's definitions; [`signature::create`] turns an item into a
//! published hash signature gateways pull ([`publish`]); [`watchdog`] and
//! the quota raise [`alert`]s, mailed through the relay like submissions.

pub mod alert;
pub mod api;
pub mod auth;
pub mod config;
pub mod console;
pub mod defs;
pub mod error;
pub mod index;
pub mod inert;
pub mod item;
pub mod pages;
pub mod publish;
pub mod query;
pub mod quota;
pub mod receive;
pub mod relay;
pub mod rescan;
pub mod restore;
pub mod serve;
pub mod service;
pub mod signature;
pub mod status;
pub mod store;
pub mod strip;
pub mod submit;
pub mod watchdog;

pub use config::Settings;
pub use serve::serve;
