//! mxguard: an SMTP antivirus gateway. See DESIGN.md for the module map.

pub mod admin;
pub mod app;
pub mod cli;
pub mod config;
pub mod control;
pub mod delivery;
pub mod diag;
pub mod dns;
pub mod envelope;
pub mod events;
pub mod lifecycle;
pub mod mime;
pub mod notify;
pub mod pipeline;
pub mod policy;
pub mod quarantine;
pub mod report;
pub mod resources;
pub mod routing;
pub mod scan;
pub mod smtp;
pub mod spool;
pub mod wildcard;
