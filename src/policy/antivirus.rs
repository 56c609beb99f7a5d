//! The antivirus policy (SPEC §6): what becomes of each infected file —
//! repaired, deleted or logged — and whether the message is still
//! delivered. Repair means removing the infection and keeping the rest:
//! an infected member of a zip, tar, uuencode or BinHex container (or a
//! part of a forwarded message) is replaced by `DELETEDn.TXT`, and an
//! Office document whose infection is in its macros loses its VBA project.
//! Anything else is unrepairable. The quarantine mode picks the infected
//! files sent to the Central Quarantine as well.

use super::{Finding, Handling};
use crate::config::{Antivirus, OnDetect, OnNotRemoved, OnUnrepairable, QuarantineMode};
use crate::mime::containers::Kind;
use crate::mime::rebuild::{Edit, Edits};
use crate::mime::{Holds, Origin, Part};
use crate::scan::{Detection, repair};

/// One infected file: the parts from its attachment down to it, and what
/// the scanners found.
pub struct Infection<'a> {
    pub lineage: Vec<&'a Part>,
    pub detections: Vec<Detection>,
}

/// What the policy made of a message's infections.
#[derive(Debug, Default)]
pub struct Verdict {
    pub findings: Vec<(Finding, Handling)>,
    pub edits: Edits,
    /// Drop the message: an infection stays in it and the policy says so.
    pub drop: bool,
    /// The infections (by index) sent to the Central Quarantine, each
    /// with the scan result it is reported with.
    pub quarantine: Vec<(usize, &'static str)>,
}

/// Decide for every infection in a message.
pub fn decide(av: &Antivirus, infections: &[Infection<'_>]) -> Verdict {
    let mut v = Verdict::default();
    let stand_in = av.replace.then(|| av.replacement_text.clone());
    for (index, infection) in infections.iter().enumerate() {
        let Some(file) = infection.lineage.last() else { continue };
        let handling = match av.on_detect {
            OnDetect::Log => Handling::Logged,
            OnDetect::Delete => delete(&mut v.edits, &infection.lineage, &stand_in),
            OnDetect::Repair => match repair(infection, &av.replacement_text) {
                Some((path, edit)) => {
                    v.edits.insert(path, edit);
                    Handling::Repaired
                }
                None if av.on_unrepairable == OnUnrepairable::Delete => {
                    delete(&mut v.edits, &infection.lineage, &stand_in)
                }
                None => Handling::Logged,
            },
        };
        if handling == Handling::Logged && av.on_not_removed == OnNotRemoved::Drop {
            v.drop = true;
        }
        if let Some(result) = quarantined(av, &handling) {
            v.quarantine.push((index, result));
        }
        let name = file.names.first().cloned().unwrap_or_default();
        for d in &infection.detections {
            let finding = Finding::Virus {
                path: file.path.clone(),
                name: name.clone(),
                virus: d.name.clone(),
                scanner: d.scanner.clone(),
            };
            v.findings.push((finding, if v.drop { Handling::Dropped } else { handling.clone() }));
        }
    }
    v
}

/// The scan result an infected file handled `handling` is quarantined
/// with, if the quarantine mode takes it: every infected file under
/// "all", only those the Repair action could not repair under
/// "unrepaired".
fn quarantined(av: &Antivirus, handling: &Handling) -> Option<&'static str> {
    let result = match (av.on_detect, handling) {
        (OnDetect::Repair, Handling::Repaired) => "repaired",
        (OnDetect::Repair, _) => "unrepairable",
        (OnDetect::Delete, _) => "deleted",
        (OnDetect::Log, _) => "logged",
    };
    match av.quarantine.mode {
        QuarantineMode::All => Some(result),
        QuarantineMode::Unrepaired => (result == "unrepairable").then_some(result),
        QuarantineMode::Nothing => None,
    }
}

/// Delete the attachment the infected file came in (the innermost MIME
/// part around it).
fn delete(edits: &mut Edits, lineage: &[&Part], stand_in: &Option<String>) -> Handling {
    match lineage.iter().rev().find(|p| matches!(p.origin, Origin::Mime { .. })) {
        Some(attachment) => {
            edits.insert(attachment.path.clone(), Edit::Delete(stand_in.clone()));
            Handling::Deleted
        }
        None => Handling::Logged,
    }
}

/// The repair for an infection, if one is possible: the path to edit and
/// how.
fn repair(infection: &Infection<'_>, text: &str) -> Option<(String, Edit)> {
    let lineage = &infection.lineage;
    if let Some(doc) = macro_document(lineage) {
        return match repair::strip_macros(&doc.data) {
            Ok(clean) => Some((doc.path.clone(), Edit::Replace(clean))),
            Err(why) => {
                tracing::warn!(path = %doc.path, "cannot remove the macros: {why}");
                None
            }
        };
    }
    let [.., parent, file] = lineage.as_slice() else { return None };
    let replaceable =
        matches!(parent.holds, Some(Holds::Message | Holds::Archive(Kind::Zip | Kind::Tar | Kind::InlineText)));
    replaceable.then(|| (file.path.clone(), Edit::Delete(Some(text.to_string()))))
}

/// The Office Open XML document whose VBA project holds the infection.
fn macro_document<'a>(lineage: &[&'a Part]) -> Option<&'a Part> {
    let project = lineage.iter().position(|p| {
        p.names.iter().any(|n| n.rsplit('/').next().is_some_and(|b| b.eq_ignore_ascii_case("vbaProject.bin")))
    })?;
    let doc = lineage.get(project.checked_sub(1)?)?;
    (doc.holds == Some(Holds::Archive(Kind::Zip)) && repair::has_macros(&doc.data)).then_some(*doc)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mime::detect::FileType;

    fn part(path: &str, name: &str, origin: Origin, holds: Option<Holds>) -> Part {
        Part { origin, holds, detected: FileType::Other, ..Part::named(path, &[name], false) }
    }

    fn mime(path: &str, name: &str, holds: Option<Holds>) -> Part {
        part(path, name, Origin::Mime { header: 0..0, body: 0..0, encoded: true }, holds)
    }

    fn member(path: &str, name: &str, holds: Option<Holds>) -> Part {
        part(path, name, Origin::Member(0), holds)
    }

    fn eicar() -> Vec<Detection> {
        vec![Detection { name: "Eicar-Test-Signature".into(), scanner: "builtin".into() }]
    }

    fn policy(on_detect: OnDetect, on_unrepairable: OnUnrepairable, on_not_removed: OnNotRemoved) -> Antivirus {
        Antivirus {
            on_detect,
            on_unrepairable,
            on_not_removed,
            replacement_text: "VIRUS".into(),
            ..Antivirus::default()
        }
    }

    #[test]
    fn every_combination_of_the_three_settings() {
        let zip = mime("2", "files.zip", Some(Holds::Archive(Kind::Zip)));
        let inside = member("2:eicar.com", "eicar.com", None);
        let seven = mime("3", "tools.7z", Some(Holds::Archive(Kind::SevenZip)));
        let in_7z = member("3:eicar.com", "eicar.com", None);
        use {OnDetect::*, OnNotRemoved as N, OnUnrepairable as U};
        for (detect, unrepairable, not_removed, repairable_outcome, unrepairable_outcome, drops) in [
            (Repair, U::Delete, N::Log, ("2:eicar.com", Handling::Repaired), ("3", Handling::Deleted), false),
            (Repair, U::Log, N::Log, ("2:eicar.com", Handling::Repaired), ("", Handling::Logged), false),
            (Repair, U::Log, N::Drop, ("2:eicar.com", Handling::Repaired), ("", Handling::Dropped), true),
            (Repair, U::Delete, N::Drop, ("2:eicar.com", Handling::Repaired), ("3", Handling::Deleted), false),
            (Delete, U::Delete, N::Log, ("2", Handling::Deleted), ("3", Handling::Deleted), false),
            (Delete, U::Log, N::Drop, ("2", Handling::Deleted), ("3", Handling::Deleted), false),
            (Log, U::Delete, N::Log, ("", Handling::Logged), ("", Handling::Logged), false),
            (Log, U::Delete, N::Drop, ("", Handling::Dropped), ("", Handling::Dropped), true),
        ] {
            let av = policy(detect, unrepairable, not_removed);
            let v = decide(&av, &[Infection { lineage: vec![&zip, &inside], detections: eicar() }]);
            assert_eq!(v.findings[0].1, repairable_outcome.1, "{detect:?} {unrepairable:?} {not_removed:?}");
            assert_eq!(v.edits.contains_key(repairable_outcome.0), !repairable_outcome.0.is_empty());
            let w = decide(&av, &[Infection { lineage: vec![&seven, &in_7z], detections: eicar() }]);
            assert_eq!(w.findings[0].1, unrepairable_outcome.1, "7z: {detect:?} {unrepairable:?} {not_removed:?}");
            assert_eq!(w.edits.contains_key(unrepairable_outcome.0), !unrepairable_outcome.0.is_empty());
            assert_eq!(v.drop || w.drop, drops);
        }
    }

    #[test]
    fn the_quarantine_mode_picks_the_infected_files() {
        let zip = mime("2", "files.zip", Some(Holds::Archive(Kind::Zip)));
        let inside = member("2:eicar.com", "eicar.com", None);
        let top = mime("3", "eicar.com", None);
        let infections = [
            Infection { lineage: vec![&zip, &inside], detections: eicar() },
            Infection { lineage: vec![&top], detections: eicar() },
        ];
        let with = |mode, on_detect| {
            let mut av = policy(on_detect, OnUnrepairable::Delete, OnNotRemoved::Log);
            av.quarantine.mode = mode;
            decide(&av, &infections).quarantine
        };
        use QuarantineMode::*;
        assert_eq!(with(Nothing, OnDetect::Repair), vec![]);
        assert_eq!(with(Unrepaired, OnDetect::Repair), vec![(1, "unrepairable")]);
        assert_eq!(with(All, OnDetect::Repair), vec![(0, "repaired"), (1, "unrepairable")]);
        assert_eq!(with(Unrepaired, OnDetect::Delete), vec![], "only when the action is Repair");
        assert_eq!(with(All, OnDetect::Delete), vec![(0, "deleted"), (1, "deleted")]);
        assert_eq!(with(All, OnDetect::Log), vec![(0, "logged"), (1, "logged")]);
    }

    #[test]
    fn a_top_level_attachment_is_unrepairable_and_deleted() {
        let file = mime("2", "eicar.com", None);
        let v = decide(&Antivirus::default(), &[Infection { lineage: vec![&file], detections: eicar() }]);
        assert_eq!(v.findings[0].1, Handling::Deleted);
        assert!(matches!(&v.edits["2"], Edit::Delete(Some(_))));
        let no_stand_in = Antivirus { replace: false, ..Antivirus::default() };
        let v = decide(&no_stand_in, &[Infection { lineage: vec![&file], detections: eicar() }]);
        assert_eq!(v.edits["2"], Edit::Delete(None));
    }

    #[test]
    fn macros_are_removed_from_the_document() {
        let mut docm = mime("2", "report.docm", Some(Holds::Archive(Kind::Zip)));
        docm.data = {
            use std::io::Write;
            let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
            for (name, data) in [("[Content_Types].xml", &b"<Types/>"[..]), ("word/vbaProject.bin", b"project")] {
                w.start_file(name, zip::write::SimpleFileOptions::default()).unwrap();
                w.write_all(data).unwrap();
            }
            w.finish().unwrap().into_inner()
        };
        let project = member("2:word/vbaProject.bin", "word/vbaProject.bin", Some(Holds::Archive(Kind::Ole2)));
        let module = member("2:word/vbaProject.bin/VBA/ThisDocument", "VBA/ThisDocument", None);
        let v = decide(
            &Antivirus::default(),
            &[Infection { lineage: vec![&docm, &project, &module], detections: eicar() }],
        );
        assert_eq!(v.findings[0].1, Handling::Repaired);
        let Edit::Replace(clean) = &v.edits["2"] else { panic!("the document is replaced") };
        assert!(!repair::has_macros(clean));
    }
}
