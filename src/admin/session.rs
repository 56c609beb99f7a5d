//! Browser sessions, kept on the server: a random ID in an HttpOnly,
//! SameSite=Strict cookie, a CSRF token per session that every form must
//! send back, and the inactivity timeout. A session exists before logon
//! too (to carry the logon form's CSRF token); logging on replaces its ID
//! so an ID seen before logon is worth nothing after it.

use super::accounts::Role;
use argon2::password_hash::rand_core::{OsRng, RngCore};
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The gateway administration's session cookie. Each server names its
/// own: browsers send a host's cookies to every port of it.
pub const COOKIE: &str = "mxguard_session";

/// Sessions kept at most; the least recently used go first beyond it, so
/// a flood of anonymous logon-page visits cannot exhaust memory.
const MAX_SESSIONS: usize = 10_000;

/// One browser's session.
#[derive(Debug, Clone)]
pub struct Session {
    pub id: String,
    /// `None` until logged on.
    pub role: Option<Role>,
    /// Every form carries it; a POST without it is refused.
    pub csrf: String,
    last_seen: Instant,
}

/// Failed logons of one client, for the growing delay.
#[derive(Debug, Clone, Copy)]
struct Failures {
    count: u32,
    last: Instant,
}

/// Every session and the failed-logon counts per client.
#[derive(Default)]
pub struct Sessions {
    sessions: Mutex<HashMap<String, Session>>,
    failures: Mutex<HashMap<IpAddr, Failures>>,
}

impl Sessions {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Session>> {
        self.sessions.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The live session with `id`, touched; an expired one is removed.
    pub fn find(&self, id: &str, timeout: Duration) -> Option<Session> {
        let mut sessions = self.lock();
        let session = sessions.get_mut(id)?;
        if session.last_seen.elapsed() > timeout {
            sessions.remove(id);
            return None;
        }
        session.last_seen = Instant::now();
        Some(session.clone())
    }

    /// A new session, not logged on.
    pub fn start(&self) -> Session {
        self.insert(None)
    }

    /// Log `role` on, ending the session `previous` (if any) and returning
    /// a new one.
    pub fn log_on(&self, previous: Option<&str>, role: Role) -> Session {
        if let Some(id) = previous {
            self.lock().remove(id);
        }
        self.insert(Some(role))
    }

    /// End a session.
    pub fn end(&self, id: &str) -> Option<Session> {
        self.lock().remove(id)
    }

    fn insert(&self, role: Option<Role>) -> Session {
        let session = Session { id: random_token(), role, csrf: random_token(), last_seen: Instant::now() };
        let mut sessions = self.lock();
        if sessions.len() >= MAX_SESSIONS {
            let oldest = sessions.values().min_by_key(|s| s.last_seen).map(|s| s.id.clone());
            if let Some(id) = oldest {
                sessions.remove(&id);
            }
        }
        sessions.insert(session.id.clone(), session.clone());
        session
    }

    /// Record a failed logon from `client`; returns how long to wait before
    /// answering (growing with the failures, at most 3 s).
    pub fn failed_logon(&self, client: IpAddr) -> Duration {
        let mut failures = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        // Forget clients quiet for an hour.
        failures.retain(|_, f| f.last.elapsed() < Duration::from_secs(3600));
        let entry = failures.entry(client).or_insert(Failures { count: 0, last: Instant::now() });
        entry.count += 1;
        entry.last = Instant::now();
        Duration::from_millis(250 * u64::from(entry.count.min(12)))
    }

    /// A successful logon from `client` clears its failures.
    pub fn logged_on(&self, client: IpAddr) {
        self.failures.lock().unwrap_or_else(|e| e.into_inner()).remove(&client);
    }
}

/// A session outside the store, for a request authenticated otherwise
/// (an API token): it has a role but no cookie to come back with.
pub fn detached(role: Role) -> Session {
    Session { id: String::new(), role: Some(role), csrf: random_token(), last_seen: Instant::now() }
}

/// 128 random bits as hex: session IDs and CSRF tokens.
fn random_token() -> String {
    let mut bytes = [0u8; 16];
    OsRng.fill_bytes(&mut bytes);
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The session ID a request's `Cookie` header carries in `cookie`, if any.
pub fn cookie_value<'h>(header: &'h str, cookie: &str) -> Option<&'h str> {
    header.split(';').filter_map(|pair| pair.trim().split_once('=')).find(|(name, _)| *name == cookie).map(|(_, v)| v)
}

/// The `Set-Cookie` value for session `id` in `cookie`; `secure` over HTTPS.
pub fn set_cookie(cookie: &str, id: &str, secure: bool) -> String {
    format!("{cookie}={id}; Path=/; HttpOnly; SameSite=Strict{}", if secure { "; Secure" } else { "" })
}

/// The `Set-Cookie` value that makes the browser forget `cookie` (logoff).
pub fn clear_cookie(cookie: &str) -> String {
    format!("{cookie}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn logon_replaces_the_session_and_timeouts_end_it() {
        let sessions = Sessions::default();
        let anonymous = sessions.start();
        assert_eq!(anonymous.role, None);
        let admin = sessions.log_on(Some(&anonymous.id), Role::Admin);
        assert_ne!(admin.id, anonymous.id);
        assert!(sessions.find(&anonymous.id, Duration::from_secs(60)).is_none(), "the old ID is gone");
        assert_eq!(sessions.find(&admin.id, Duration::from_secs(60)).unwrap().role, Some(Role::Admin));
        std::thread::sleep(Duration::from_millis(20));
        assert!(sessions.find(&admin.id, Duration::from_millis(10)).is_none(), "inactive too long");
        assert!(sessions.find(&admin.id, Duration::from_secs(60)).is_none(), "and removed");
    }

    #[test]
    fn failed_logons_slow_down_until_a_success() {
        let sessions = Sessions::default();
        let client: IpAddr = "192.0.2.7".parse().unwrap();
        let delays: Vec<Duration> = (0..3).map(|_| sessions.failed_logon(client)).collect();
        assert!(delays.windows(2).all(|w| w[0] < w[1]), "{delays:?}");
        sessions.logged_on(client);
        assert_eq!(sessions.failed_logon(client), delays[0]);
    }

    #[test]
    fn cookies_are_found_among_others() {
        assert_eq!(cookie_value("a=1; mxguard_session=abc; b=2", COOKIE), Some("abc"));
        assert_eq!(cookie_value("a=1", COOKIE), None);
        assert!(set_cookie(COOKIE, "x", true).ends_with("HttpOnly; SameSite=Strict; Secure"));
        assert!(clear_cookie(COOKIE).ends_with("Max-Age=0"));
    }
}
