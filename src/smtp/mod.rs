//! SMTP: the inbound server (pure session state machine + socket driver)
//! and the outbound client.

pub mod client;
pub mod command;
pub mod data;
pub mod lines;
pub mod reply;
pub mod server;
pub mod session;
pub mod tls;
