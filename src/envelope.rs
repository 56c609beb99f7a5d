//! The SMTP envelope of a queued message: what the spool stores beside the
//! content and what delivery needs to pass on (including DSN parameters,
//! RFC 3461).

/// Sender, recipients and the ESMTP parameters that travel with them.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Envelope {
    /// Reverse path without brackets; empty for the null sender (bounces).
    pub sender: String,
    pub recipients: Vec<Recipient>,
    /// DSN `RET=FULL|HDRS`.
    pub ret: Option<String>,
    /// DSN `ENVID=` (xtext as received).
    pub envid: Option<String>,
    /// `BODY=8BITMIME` was given.
    pub body_8bit: bool,
    /// `SMTPUTF8` was given.
    pub smtputf8: bool,
    /// The connecting client's IP, for reports and notifications.
    pub client_ip: String,
    /// The name the client gave in HELO/EHLO.
    pub helo: String,
    /// The DNSBL zone that lists the client, when the DNSBL action let the
    /// message in (log or forward) and the sender is not white-listed.
    pub listed_by: Option<String>,
}

/// One recipient with its DSN parameters.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Recipient {
    pub address: String,
    /// DSN `NOTIFY=` value as received (`NEVER` or a list of
    /// `SUCCESS,FAILURE,DELAY`).
    pub notify: Option<String>,
    /// DSN `ORCPT=` (`rfc822;xtext`).
    pub orcpt: Option<String>,
}

impl Recipient {
    /// A recipient without DSN parameters.
    pub fn new(address: impl Into<String>) -> Recipient {
        Recipient { address: address.into(), notify: None, orcpt: None }
    }

    /// The recipient's domain, lower-cased (empty if there is none).
    pub fn domain(&self) -> String {
        domain_of(&self.address)
    }

    /// Whether a failure DSN should be sent for this recipient (the
    /// default when `NOTIFY` was not given).
    pub fn wants_failure_notice(&self) -> bool {
        self.notify.as_deref().is_none_or(|n| n.to_ascii_uppercase().contains("FAILURE"))
    }
}

/// The domain part of an address, lower-cased.
pub fn domain_of(address: &str) -> String {
    address.rsplit_once('@').map(|(_, d)| d.to_lowercase()).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failure_notice_follows_notify() {
        assert!(Recipient::new("a@b").wants_failure_notice());
        let mut r = Recipient::new("a@b");
        r.notify = Some("NEVER".into());
        assert!(!r.wants_failure_notice());
        r.notify = Some("success,failure".into());
        assert!(r.wants_failure_notice());
        assert_eq!(domain_of("\"x@y\"@Example.COM"), "example.com");
    }
}
