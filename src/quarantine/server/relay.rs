//! The server's way out by mail: one message to one recipient through the
//! configured `relay`, from `submit_from`, with the gateway's own SMTP
//! client. Submissions and alerts both go out here.

use super::config::Settings;
use crate::config::{Config, parse_host_port};
use crate::diag::Transcript;
use crate::envelope::{Envelope, Recipient};
use crate::smtp::client::{ConnectError, Connection, RcptResult};

/// Send `message` to `to`; the relay's reply when it took it, why not
/// otherwise.
pub async fn deliver(settings: &Settings, to: &str, message: &[u8]) -> Result<String, String> {
    let (host, port) =
        parse_host_port(&settings.relay).ok_or_else(|| format!("relay {:?} is not \"host:port\"", settings.relay))?;
    let peer = tokio::net::lookup_host((host.as_str(), port))
        .await
        .map_err(|e| format!("cannot resolve the relay {host}: {e}"))?
        .next()
        .ok_or_else(|| format!("the relay {host} has no address"))?;
    // Default diagnostics: no conversation log is written.
    let tap = Transcript::outbound(&Config::default());
    let mut conn = Connection::open(peer, &host, &settings.hostname, true, tap).await.map_err(|e| match e {
        ConnectError::Temporary(why) => why,
        ConnectError::Permanent(reply) => format!("{peer} refused the connection: {}", reply.describe()),
    })?;
    let envelope = Envelope { sender: settings.submit_from.clone(), ..Envelope::default() };
    let recipient = Recipient::new(to.to_string());
    let results = conn.send(&envelope, &[&recipient], message).await?;
    conn.quit().await;
    match results.into_iter().next() {
        Some(RcptResult::Delivered(reply)) => Ok(format!("{peer} answered {}", reply.describe())),
        Some(RcptResult::Deferred(reply) | RcptResult::Failed(reply)) => {
            Err(format!("{peer} did not take it: {}", reply.describe()))
        }
        None => Err(format!("{peer} gave no answer for {to}")),
    }
}
