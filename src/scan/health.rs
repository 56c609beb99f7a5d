//! clamd health check: every configured clamd is sent `PING` at start and
//! then every half minute, so an administrator learns that a scanner is
//! gone (and back) from an event, not from held mail.

use super::clamd::{Address, Clamd};
use crate::config::{ConfigHandle, ScannerKind};
use crate::events::{Event, Events};
use std::collections::HashMap;
use std::time::Duration;

/// Time between two rounds of `PING`s.
const EVERY: Duration = Duration::from_secs(30);

/// Ping the configured clamd scanners forever; emit an event when one
/// stops answering and when it answers again.
pub async fn watch_clamd(config: ConfigHandle, events: Events) {
    let mut down: HashMap<String, bool> = HashMap::new();
    loop {
        let scanners: Vec<(String, u64)> = config
            .current()
            .antivirus
            .scanners
            .iter()
            .filter(|s| s.kind == ScannerKind::Clamd)
            .map(|s| (s.address.clone(), s.timeout_seconds))
            .collect();
        down.retain(|address, _| scanners.iter().any(|(a, _)| a == address));
        for (address, timeout) in scanners {
            let Some(parsed) = Address::parse(&address) else { continue };
            let clamd = Clamd::new(parsed, Duration::from_secs(timeout));
            let answer = tokio::task::spawn_blocking(move || clamd.ping()).await.unwrap_or_else(|e| Err(e.to_string()));
            let was_down = down.insert(address.clone(), answer.is_err());
            let scanner = format!("clamd at {address}");
            match answer {
                Err(why) if was_down != Some(true) => events.emit(Event::ScannerUnavailable { scanner, why }),
                Ok(()) if was_down == Some(true) => events.emit(Event::ScannerAvailable { scanner }),
                _ => {}
            }
        }
        tokio::time::sleep(EVERY).await;
    }
}
