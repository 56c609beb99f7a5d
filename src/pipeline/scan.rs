//! Step 3: virus scanning (SPEC §6). Every file the decomposer found goes
//! through the scanner chain, within the scan policy; the antivirus policy
//! decides what becomes of the infected ones and which are quarantined; a
//! scanner failure makes the message follow the "cannot be processed"
//! policy, never pass as clean; infected messages feed the outbreak window.

use super::{Step, Verdict, Work, quarantine};
use crate::config::{Config, ScanPolicy, ScannerKind, Unprocessable};
use crate::control::SCAN_ERROR;
use crate::events::{Event, Events};
use crate::mime::Part;
use crate::policy::antivirus::{self, Infection};
use crate::policy::{Finding, Handling};
use crate::quarantine::local::LocalQuarantine;
use crate::scan::builtin::{Builtin, Signatures};
use crate::scan::clamd::{Address, Clamd};
use crate::scan::heuristics::{Heuristics, Level};
use crate::scan::{ScanFailure, Scanner, Target};
use std::collections::VecDeque;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Scans messages.
pub struct Scan {
    signatures: Arc<Signatures>,
    events: Events,
    outbreak: Mutex<Window>,
    quarantine: Arc<LocalQuarantine>,
}

/// When the recent infected messages arrived, and the last alert.
#[derive(Default)]
struct Window {
    arrivals: VecDeque<Instant>,
    alerted: Option<Instant>,
}

impl Scan {
    /// A step using `signatures` for the built-in engine and keeping
    /// the files the quarantine mode takes in `quarantine`.
    pub fn new(signatures: Arc<Signatures>, events: Events, quarantine: Arc<LocalQuarantine>) -> Scan {
        Scan { signatures, events, outbreak: Mutex::new(Window::default()), quarantine }
    }

    /// The configured chain; the heuristics run last unless placed.
    fn chain(&self, config: &Config) -> Vec<Box<dyn Scanner>> {
        let av = &config.antivirus;
        let mut chain: Vec<Box<dyn Scanner>> = Vec::new();
        for s in &av.scanners {
            match s.kind {
                ScannerKind::Builtin => {
                    chain.push(Box::new(Builtin(self.signatures.for_dir(Path::new(&av.defs_dir)))));
                }
                ScannerKind::Clamd => {
                    if let Some(address) = Address::parse(&s.address) {
                        chain.push(Box::new(Clamd::new(address, Duration::from_secs(s.timeout_seconds))));
                    }
                }
                ScannerKind::Heuristics => chain.push(Box::new(Heuristics::new(av.heuristic_level))),
            }
        }
        let listed = av.scanners.iter().any(|s| s.kind == ScannerKind::Heuristics);
        if !listed && av.heuristic_level != Level::Off {
            chain.push(Box::new(Heuristics::new(av.heuristic_level)));
        }
        chain
    }

    /// Record an infected message; an outbreak event once per window.
    fn infected_message(&self, config: &Config) {
        let o = &config.antivirus.outbreak;
        if !o.enabled {
            return;
        }
        let span = Duration::from_secs(u64::from(o.minutes) * 60);
        let now = Instant::now();
        let mut w = self.outbreak.lock().unwrap_or_else(|e| e.into_inner());
        w.arrivals.push_back(now);
        while w.arrivals.front().is_some_and(|t| now.duration_since(*t) > span) {
            w.arrivals.pop_front();
        }
        let quiet = w.alerted.is_none_or(|t| now.duration_since(t) > span);
        if w.arrivals.len() >= o.count as usize && quiet {
            w.alerted = Some(now);
            self.events.emit(Event::Outbreak { messages: w.arrivals.len(), minutes: o.minutes });
        }
    }
}

/// What scanning a message found.
#[derive(Default)]
struct Found<'a> {
    infections: Vec<Infection<'a>>,
    failures: Vec<(String, ScanFailure)>,
}

/// Scan `parts` and what is inside them, within the scan policy; parts the
/// blocking policy already removes are skipped.
fn scan_tree<'a>(
    config: &Config,
    chain: &[Box<dyn Scanner>],
    parts: &'a [Part],
    removed: &dyn Fn(&str) -> bool,
    lineage: &mut Vec<&'a Part>,
    found: &mut Found<'a>,
) {
    let av = &config.antivirus;
    for part in parts {
        if removed(&part.path) {
            continue;
        }
        lineage.push(part);
        let wanted = av.scans(&part.names);
        if wanted && !part.encrypted {
            let target = Target {
                data: &part.data,
                detected: part.detected,
                path: &part.path,
                names: &part.names,
                declared_type: &part.declared_type,
            };
            let mut detections = Vec::new();
            for scanner in chain {
                match scanner.scan(&target) {
                    Ok(found) => detections.extend(found),
                    Err(failure) => found.failures.push((part.path.clone(), failure)),
                }
            }
            if !detections.is_empty() {
                found.infections.push(Infection { lineage: lineage.clone(), detections });
            }
        }
        // An excluded container is not looked into; an include list
        // applies to the members of containers too.
        if wanted || av.scan_policy != ScanPolicy::Exclude {
            scan_tree(config, chain, &part.children, removed, lineage, found);
        }
        lineage.pop();
    }
}

impl Step for Scan {
    fn name(&self) -> &'static str {
        "scan"
    }

    fn apply(&self, work: &mut Work<'_>) -> Verdict {
        let config = work.config;
        let Some(parts) = work.parts.as_ref().filter(|_| config.antivirus.enabled) else { return Verdict::Continue };
        let chain = self.chain(config);
        let edits = &work.decision.edits;
        let removed = |path: &str| edits.contains_key(path);
        let mut found = Found::default();
        scan_tree(config, &chain, &parts.parts, &removed, &mut Vec::new(), &mut found);

        let message = work.message();
        let mut findings = Vec::new();
        let mut stop = None;
        for (path, failure) in found.failures {
            let why = format!("{}: {}", failure.scanner, failure.why);
            let finding = Finding::ScanError { path, why: why.clone() };
            let why = format!("{SCAN_ERROR}: {why}");
            let (handling, verdict) = match config.blocking.unprocessable {
                Unprocessable::Deliver => (Handling::Delivered, None),
                Unprocessable::Drop => (Handling::Dropped, Some(Verdict::Drop(why))),
                Unprocessable::Bounce => (Handling::Bounced, Some(Verdict::Bounce(why))),
                Unprocessable::Hold => (Handling::Held, Some(Verdict::Hold(why))),
            };
            findings.push((finding, handling));
            stop = stop.or(verdict);
        }
        let infected = !found.infections.is_empty();
        let decided = antivirus::decide(&config.antivirus, &found.infections);
        let sequence = self.signatures.current().sequence;
        if let Err(why) =
            quarantine::keep(&self.quarantine, &self.events, sequence, work, &found.infections, &decided.quarantine)
        {
            return Verdict::Hold(why);
        }
        findings.extend(decided.findings);
        for (finding, handling) in &findings {
            let event =
                Event::Blocking { message: message.clone(), finding: finding.clone(), handling: handling.clone() };
            self.events.emit(event);
        }
        if infected {
            self.infected_message(config);
        }
        if let Some(stop) = stop {
            return stop;
        }
        if decided.drop {
            return Verdict::Drop("an infection was neither repaired nor deleted".into());
        }
        work.decision.edits.extend(decided.edits);
        work.decision.findings.extend(findings);
        Verdict::Continue
    }
}
