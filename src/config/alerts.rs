//! System alerts (SPEC §9): which happenings are mailed to
//! `notify.admin_addresses`. The important ones are on by default; the
//! protocol violations, which any scanner on the Internet causes all day,
//! are off.

use serde::{Deserialize, Serialize};

/// `[alerts]`: one switch per alert.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Alerts {
    pub application_start: bool,
    pub application_start_after_crash: bool,
    pub application_stop: bool,
    /// Less than 10 % free in the log, scan or queue directory.
    pub low_disk_space: bool,
    /// Less than 10 % of memory free.
    pub low_memory: bool,
    pub definitions_update_complete: bool,
    pub configuration_change: bool,
    /// A message moved to the hold queue.
    pub suspect_message: bool,
    /// A message or file could not be scanned or taken apart.
    pub scan_error: bool,
    pub file_access_error: bool,
    pub smtp_protocol_violation: bool,
    pub http_protocol_violation: bool,
    /// The third failed administrator logon in a row, and every one after.
    pub frequent_failed_logons: bool,
    /// A next hop could not be reached.
    pub smtp_connection_failure: bool,
    /// An attempt to use the administration interface without the right.
    pub unauthorized_access: bool,
    /// Infected files wait in the local quarantine: the Central
    /// Quarantine cannot be reached or refuses the gateway.
    pub quarantine_accumulating: bool,
    /// Free disk space or memory below this percentage is "low" (SPEC:
    /// 10 %).
    pub min_free_percent: u8,
}

impl Default for Alerts {
    fn default() -> Self {
        Alerts {
            application_start: true,
            application_start_after_crash: true,
            application_stop: true,
            low_disk_space: true,
            low_memory: true,
            definitions_update_complete: true,
            configuration_change: true,
            suspect_message: true,
            scan_error: true,
            file_access_error: true,
            smtp_protocol_violation: false,
            http_protocol_violation: false,
            frequent_failed_logons: true,
            smtp_connection_failure: true,
            unauthorized_access: true,
            quarantine_accumulating: true,
            min_free_percent: 10,
        }
    }
}

impl Alerts {
    /// Refuse a threshold that is not a percentage.
    pub(super) fn check(&self, p: &mut Vec<super::validate::Problem>) {
        super::validate::range(p, "alerts.min_free_percent", self.min_free_percent, 1, 100);
    }
}

#[cfg(test)]
mod tests {
    use crate::config::Config;

    #[test]
    fn protocol_violations_are_off_and_switches_are_read() {
        let a = Config::from_toml("").unwrap().alerts;
        assert!(a.application_start_after_crash && a.low_disk_space && a.frequent_failed_logons);
        assert!(!a.smtp_protocol_violation && !a.http_protocol_violation);
        let a =
            Config::from_toml("[alerts]\nsmtp_protocol_violation = true\napplication_start = false\n").unwrap().alerts;
        assert!(a.smtp_protocol_violation && !a.application_start && a.application_stop);
        let err = Config::from_toml("[alerts]\nlow_disk = true\n").unwrap_err();
        assert_eq!(err[0].key, "alerts.low_disk");
        let err = Config::from_toml("[alerts]\nmin_free_percent = 0\n").unwrap_err();
        assert_eq!(err[0].key, "alerts.min_free_percent");
    }
}
