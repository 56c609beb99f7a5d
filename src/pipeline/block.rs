//! Step 2: the blocking policy (SPEC §4) on the decomposed message. Every
//! finding becomes an event; a drop, bounce or hold ends processing here,
//! anything else is left in the work for the rewrite step.

use super::{Step, Verdict, Work};
use crate::config::Config;
use crate::events::{Event, Events};
use crate::mime::{self, headers};
use crate::policy::spam::SpamRules;
use crate::policy::{self, Disposition, Input};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

/// An administrator's spam rules file as last read: path, modification
/// time, and the rules (`None` if the file was refused).
type OwnRules = (PathBuf, Option<SystemTime>, Option<Arc<SpamRules>>);

/// Applies the blocking policy.
pub struct Block {
    events: Events,
    own_rules: Mutex<Option<OwnRules>>,
}

impl Block {
    /// A step reporting to `events`.
    pub fn new(events: Events) -> Block {
        Block { events, own_rules: Mutex::new(None) }
    }

    /// `blocking.spam.rules_file`, read again only when it changes; `None`
    /// means the shipped rules apply (no file, or a file that was refused).
    fn own_spam_rules(&self, config: &Config) -> Option<Arc<SpamRules>> {
        let file = &config.blocking.spam.rules_file;
        if file.is_empty() || !config.blocking.spam.enabled {
            return None;
        }
        let path = PathBuf::from(file);
        let modified = std::fs::metadata(&path).and_then(|m| m.modified()).ok();
        let mut cached = self.own_rules.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((p, m, rules)) = cached.as_ref()
            && *p == path
            && *m == modified
        {
            return rules.clone();
        }
        let loaded = std::fs::read_to_string(&path).map_err(|e| e.to_string()).and_then(|t| SpamRules::from_toml(&t));
        let rules = match loaded {
            Ok(rules) => Some(Arc::new(rules)),
            Err(why) => {
                tracing::error!(file = %path.display(), "spam rules refused, using the shipped ones: {why}");
                None
            }
        };
        *cached = Some((path, modified, rules.clone()));
        rules
    }
}

impl Step for Block {
    fn name(&self) -> &'static str {
        "block"
    }

    fn apply(&self, work: &mut Work<'_>) -> Verdict {
        let Some(parts) = work.parts.as_ref() else { return Verdict::Continue };
        // Only the spam scorer reads bodies; the other rules need the header.
        let content = &work.msg.content;
        let parsed =
            mime::parse::parse(if work.config.blocking.spam.enabled { content } else { headers::section(content) });
        let subject = parsed.as_ref().and_then(|m| m.subject()).unwrap_or_default().to_string();
        let header_from: Vec<String> = parsed
            .as_ref()
            .and_then(|m| m.from())
            .map(|from| from.iter().filter_map(|a| a.address()).map(str::to_string).collect())
            .unwrap_or_default();
        let own_rules = self.own_spam_rules(work.config);
        let env = &work.msg.envelope;
        let input = Input {
            sender: &env.sender,
            header_from,
            subject: &subject,
            listed_by: env.listed_by.as_deref(),
            parts,
            message: parsed.as_ref(),
            spam_rules: own_rules.as_deref().unwrap_or(SpamRules::builtin()),
        };
        let decision = policy::evaluate(work.config, &input);
        work.subject = subject;
        let message = work.message();
        for (finding, handling) in &decision.findings {
            let event =
                Event::Blocking { message: message.clone(), finding: finding.clone(), handling: handling.clone() };
            self.events.emit(event);
        }
        let reason = || decision.findings.last().map(|(f, _)| f.to_string()).unwrap_or_default();
        match decision.disposition {
            Disposition::Drop => Verdict::Drop(reason()),
            Disposition::Bounce => Verdict::Bounce(reason()),
            Disposition::Hold => Verdict::Hold(reason()),
            Disposition::Deliver | Disposition::Forward { .. } => {
                work.decision = decision;
                Verdict::Continue
            }
        }
    }
}
