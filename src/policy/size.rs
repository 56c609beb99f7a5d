//! Message size (SPEC §4): the limit advertised with `SIZE`, checked
//! against `MAIL FROM ... SIZE=` and enforced while DATA or BDAT arrives.

use crate::config::Config;

/// The largest message accepted, in bytes: the hard ceiling
/// `smtp.max_message_mb` that protects the spool, or the size rule's
/// limit when that is on and lower.
pub fn limit(config: &Config) -> usize {
    let rule = &config.blocking.size;
    let mb = if rule.enabled { rule.max_mb.min(config.smtp.max_message_mb) } else { config.smtp.max_message_mb };
    usize::try_from(mb.saturating_mul(1024 * 1024)).unwrap_or(usize::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_rule_lowers_the_ceiling_only_when_on() {
        let mut c = Config::default();
        assert_eq!(limit(&c), 100 << 20);
        c.blocking.size.max_mb = 1;
        assert_eq!(limit(&c), 100 << 20, "off by default");
        c.blocking.size.enabled = true;
        assert_eq!(limit(&c), 1 << 20);
        c.blocking.size.max_mb = 500;
        assert_eq!(limit(&c), 100 << 20, "never above the hard ceiling");
    }
}
