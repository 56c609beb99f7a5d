//! Last step: the message put back together as the policy decided —
//! forwarded whole, or with parts replaced and the subject tagged — with
//! an `X-MXGuard` field recording what was done.

use super::{Step, Verdict, Work};
use crate::envelope::Recipient;
use crate::mime::{headers, rebuild};
use crate::policy::{Disposition, Finding, Handling};

/// Applies the decision to the message.
pub struct Rewrite;

/// The trace field listing what mxguard did to a message.
pub const TRACE_FIELD: &str = "X-MXGuard";
/// The field summarising the viruses found and what became of them.
pub const VIRUS_FIELD: &str = "X-MXGuard-Virus";

impl Step for Rewrite {
    fn name(&self) -> &'static str {
        "rewrite"
    }

    fn apply(&self, work: &mut Work<'_>) -> Verdict {
        let d = &work.decision;
        if d.findings.is_empty() {
            return Verdict::Continue;
        }
        let msg = &mut *work.msg;
        let rebuilt = match (&d.disposition, work.parts.as_ref()) {
            (Disposition::Forward { .. }, _) => None,
            (_, Some(parts)) if !d.edits.is_empty() => Some(rebuild::rebuild(&msg.content, &parts.parts, &d.edits)),
            _ => None,
        };
        let base = headers::remove(rebuilt.as_deref().unwrap_or(&msg.content), TRACE_FIELD);
        let mut content = headers::remove(&base, VIRUS_FIELD);
        match &d.disposition {
            Disposition::Forward { to, subject } => {
                msg.envelope.recipients = vec![Recipient::new(to.clone())];
                if !subject.is_empty() {
                    content = headers::set(&content, "Subject", subject);
                }
            }
            _ => {
                if let Some(tag) = &d.subject_tag {
                    let old = headers::value(&content, "Subject").unwrap_or_default();
                    content = headers::set(&content, "Subject", &format!("{tag} {old}"));
                }
            }
        }
        let (viruses, others): (Vec<_>, Vec<_>) =
            d.findings.iter().partition(|(f, _)| matches!(f, Finding::Virus { .. }));
        let list = |findings: &[&(Finding, Handling)]| {
            findings.iter().map(|(f, h)| headers::visible_ascii(&format!("{f}: {h}"))).collect::<Vec<_>>().join("; ")
        };
        if !viruses.is_empty() {
            content = headers::prepend(&content, VIRUS_FIELD, &list(&viruses));
        }
        if !others.is_empty() {
            content = headers::prepend(&content, TRACE_FIELD, &list(&others));
        }
        msg.content = content;
        Verdict::Continue
    }
}
