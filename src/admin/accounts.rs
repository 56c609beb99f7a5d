//! The two administrator accounts (SPEC §8): Administrator and Report-only
//! administrator. Their passwords are kept as argon2 hashes in a state file
//! beside the configuration (`mxguard.accounts.json` for `mxguard.toml`),
//! never in the TOML that administrators edit, copy and mail around.

use argon2::Argon2;
use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use serde::{Deserialize, Serialize};
use std::io::Write;
use std::path::{Path, PathBuf};

/// Shortest password accepted.
pub const MIN_PASSWORD_LEN: usize = 8;

/// Who is logged on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Everything.
    Admin,
    /// Status and reports only.
    Report,
}

impl Role {
    /// The form value and CLI name: `admin` or `report`.
    pub fn name(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Report => "report",
        }
    }

    /// Parse a form value or CLI argument.
    pub fn parse(name: &str) -> Option<Role> {
        match name {
            "admin" => Some(Role::Admin),
            "report" => Some(Role::Report),
            _ => None,
        }
    }

    /// As shown to people.
    pub fn title(self) -> &'static str {
        match self {
            Role::Admin => "Administrator",
            Role::Report => "Report-only administrator",
        }
    }
}

/// The password hashes (PHC strings); `None` = no password set yet.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
struct Hashes {
    admin: Option<String>,
    report: Option<String>,
}

impl Hashes {
    fn get(&self, role: Role) -> Option<&str> {
        match role {
            Role::Admin => self.admin.as_deref(),
            Role::Report => self.report.as_deref(),
        }
    }

    fn set(&mut self, role: Role, hash: String) {
        match role {
            Role::Admin => self.admin = Some(hash),
            Role::Report => self.report = Some(hash),
        }
    }
}

/// The accounts file of one configuration.
#[derive(Debug, Clone)]
pub struct Accounts {
    path: PathBuf,
}

impl Accounts {
    /// The accounts kept beside `config_path`.
    pub fn beside(config_path: &Path) -> Accounts {
        let stem = config_path.file_stem().and_then(|s| s.to_str()).unwrap_or("mxguard");
        Accounts { path: config_path.with_file_name(format!("{stem}.accounts.json")) }
    }

    /// Where the hashes are stored.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Whether `role` has a password (an account without one cannot log on).
    pub fn has_password(&self, role: Role) -> bool {
        self.read().is_ok_and(|h| h.get(role).is_some())
    }

    /// Whether `password` is `role`'s. Slow on purpose (argon2): call it
    /// off the async runtime.
    pub fn verify(&self, role: Role, password: &str) -> bool {
        let Ok(hashes) = self.read() else { return false };
        let Some(stored) = hashes.get(role) else { return false };
        PasswordHash::new(stored).is_ok_and(|h| Argon2::default().verify_password(password.as_bytes(), &h).is_ok())
    }

    /// Set `role`'s password. Refused (with the reason to show) when it is
    /// too short or equal to the other account's: the Report-only
    /// password must differ from the Administrator's.
    pub fn set_password(&self, role: Role, password: &str) -> Result<(), String> {
        if password.chars().count() < MIN_PASSWORD_LEN {
            return Err(format!("a password needs at least {MIN_PASSWORD_LEN} characters"));
        }
        let other = match role {
            Role::Admin => Role::Report,
            Role::Report => Role::Admin,
        };
        if self.verify(other, password) {
            return Err(format!("the {} password must differ from the {} password", role.title(), other.title()));
        }
        let mut hashes = self.read().map_err(|e| format!("cannot read {}: {e}", self.path.display()))?;
        let salt = SaltString::generate(&mut OsRng);
        let hash = Argon2::default().hash_password(password.as_bytes(), &salt).map_err(|e| e.to_string())?;
        hashes.set(role, hash.to_string());
        self.write(&hashes).map_err(|e| format!("cannot write {}: {e}", self.path.display()))
    }

    fn read(&self) -> std::io::Result<Hashes> {
        match std::fs::read(&self.path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(std::io::Error::other),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Hashes::default()),
            Err(e) => Err(e),
        }
    }

    /// Replace the file atomically, readable by its owner only.
    fn write(&self, hashes: &Hashes) -> std::io::Result<()> {
        use std::os::unix::fs::OpenOptionsExt;
        let tmp = self.path.with_extension("json.tmp");
        let mut file = std::fs::OpenOptions::new().write(true).create(true).truncate(true).mode(0o600).open(&tmp)?;
        file.write_all(&serde_json::to_vec_pretty(hashes).map_err(std::io::Error::other)?)?;
        file.sync_all()?;
        std::fs::rename(&tmp, &self.path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_hashed_checked_and_kept_apart() {
        let dir = tempfile::tempdir().unwrap();
        let accounts = Accounts::beside(&dir.path().join("mxguard.toml"));
        assert_eq!(accounts.path(), dir.path().join("mxguard.accounts.json"));
        assert!(!accounts.has_password(Role::Admin));
        assert!(!accounts.verify(Role::Admin, "anything-at-all"));
        accounts.set_password(Role::Admin, "Correct-Horse-1").unwrap();
        assert!(accounts.verify(Role::Admin, "Correct-Horse-1"));
        assert!(!accounts.verify(Role::Admin, "correct-horse-1"), "case-sensitive");
        let text = std::fs::read_to_string(accounts.path()).unwrap();
        assert!(!text.contains("Correct-Horse-1") && text.contains("$argon2"), "{text}");
        let same = accounts.set_password(Role::Report, "Correct-Horse-1").unwrap_err();
        assert!(same.contains("must differ"), "{same}");
        assert!(accounts.set_password(Role::Report, "short").unwrap_err().contains("at least 8"));
        accounts.set_password(Role::Report, "Reports-Only-2").unwrap();
        assert!(accounts.verify(Role::Report, "Reports-Only-2") && !accounts.verify(Role::Admin, "Reports-Only-2"));
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(std::fs::metadata(accounts.path()).unwrap().permissions().mode() & 0o777, 0o600);
    }
}
