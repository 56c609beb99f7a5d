//! Characters in addresses (SPEC §3): addresses containing a configured
//! character such as `%` or `!` (old source-routing tricks) are refused.

use crate::config::Config;

/// The first forbidden character in `address`, when the rule is on.
pub fn forbidden_char(config: &Config, address: &str) -> Option<char> {
    if !config.relay.chars_enabled {
        return None;
    }
    address.chars().find(|c| config.relay.chars.contains(*c))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_when_enabled() {
        let mut c = Config::default();
        assert_eq!(forbidden_char(&c, "a%b@example.com"), None);
        c.relay.chars_enabled = true;
        assert_eq!(forbidden_char(&c, "a%b@example.com"), Some('%'));
        assert_eq!(forbidden_char(&c, "host!user@example.com"), Some('!'));
        assert_eq!(forbidden_char(&c, "plain@example.com"), None);
    }
}
