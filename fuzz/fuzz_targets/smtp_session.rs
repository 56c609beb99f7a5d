//! A whole inbound session driven by arbitrary input: lines are commands,
//! or content while DATA / BDAT are being read. It must never panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mxguard::config::{Config, LocalRoute};
use mxguard::policy::hosts::Client;
use mxguard::smtp::session::{Action, Session};
use std::sync::Arc;

fuzz_target!(|input: &[u8]| {
    let mut config = Config::default();
    config.smtp.hostname = "mx.fuzz".into();
    config.smtp.max_message_mb = 1;
    config.routing.local = vec![LocalRoute { name: "example.com".into(), relay: String::new() }];
    let client = Client { ip: "192.0.2.1".parse().unwrap(), verified_name: None };
    let mut session = Session::new(Arc::new(config), client, true);
    let mut rest = input;
    while !rest.is_empty() {
        let end = rest.iter().position(|&b| b == b'\n').map(|i| i + 1).unwrap_or(rest.len());
        let (line, after) = rest.split_at(end);
        rest = after;
        match session.command(line.strip_suffix(b"\n").unwrap_or(line)) {
            Action::ReadData(_) => {
                let used = session.data_input(rest).unwrap_or(rest.len());
                rest = &rest[used..];
                let _ = session.data_end();
            }
            Action::ReadChunk { size } => {
                let take = rest.len().min(size as usize);
                session.chunk_input(&rest[..take]);
                rest = &rest[take..];
                let _ = session.chunk_end(size);
            }
            Action::StartTls(_) => session.tls_started(),
            Action::Close(_) => return,
            Action::Reply(_) => {}
        }
    }
});
