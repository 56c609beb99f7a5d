//! Settings forms made from the configuration itself: a page names the
//! sections it edits, and each key becomes a field of the right kind
//! (check box, number, choice, text, one-entry-per-line list). A posted
//! form is turned back into the configuration's JSON form and validated
//! like an API change, so each problem appears next to its field and
//! nothing is saved while any remains.

use crate::config::{Config, Problem};
use serde_json::Value;

/// A group of fields: the keys of one configuration table.
#[derive(Debug, Clone, Copy)]
pub struct Group {
    pub title: &'static str,
    /// Dotted path of the table, e.g. `blocking.size`.
    pub table: &'static str,
    /// Only these keys (all scalar and list keys when empty).
    pub keys: &'static [&'static str],
}

/// One input on the page.
#[derive(Debug, Clone)]
pub struct Field {
    /// The dotted key, which is also the input's name.
    pub name: String,
    pub label: String,
    /// `checkbox`, `number`, `select`, `text`, `textarea` or `lines`.
    pub kind: &'static str,
    pub value: String,
    pub checked: bool,
    pub options: Vec<String>,
    pub error: String,
    /// Whole numbers only (`step=1`) or any.
    pub integer: bool,
}

/// A list of tables (`[[antivirus.scanners]]`), edited as a table with one
/// row per entry and a blank row to add one; unticking *Use* removes an
/// entry. Inputs are named `<key>.<row>.<column>`.
#[derive(Debug, Clone)]
pub struct Records {
    /// The dotted key of the list.
    pub name: String,
    pub label: String,
    pub columns: Vec<String>,
    /// The entries, then the blank one.
    pub rows: Vec<Vec<Field>>,
    /// How many of `rows` are entries (the rest is the blank row).
    pub entries: usize,
    pub error: String,
}

/// A rendered group.
#[derive(Debug, Clone)]
pub struct FieldSet {
    pub title: &'static str,
    pub fields: Vec<Field>,
    pub records: Vec<Records>,
}

/// What a new entry of a list of tables starts as, and its columns in
/// the order shown; lists without one are edited on pages of their own
/// (routing).
fn blank_entry(key: &str) -> Option<(Value, &'static [&'static str])> {
    let (entry, columns): (_, &[&str]) = match key {
        "antivirus.scanners" => {
            (serde_json::to_value(crate::config::ScannerConfig::default()), &["kind", "address", "timeout_seconds"])
        }
        "blocking.dnsbl.zones" => {
            (serde_json::to_value(crate::config::DnsblZone::default()), &["zone", "enabled", "codes"])
        }
        _ => return None,
    };
    Some((entry.ok()?, columns))
}

/// The table editor for the list `key`, or `None` if it has none.
fn records(key: String, items: &[Value]) -> Option<Records> {
    let (blank, columns) = blank_entry(&key)?;
    let row = |i: usize, entry: &Value| -> Vec<Field> {
        columns
            .iter()
            .filter_map(|c| {
                let mut f = field(format!("{key}.{i}.{c}"), entry.get(c).unwrap_or(&blank[c]))?;
                f.label = label(c);
                Some(f)
            })
            .collect()
    };
    let mut rows: Vec<Vec<Field>> = items.iter().enumerate().map(|(i, e)| row(i, e)).collect();
    rows.push(row(items.len(), &blank));
    Some(Records {
        label: label(key.rsplit('.').next().unwrap_or(&key)),
        columns: columns.iter().map(|c| label(c)).collect(),
        entries: items.len(),
        name: key,
        rows,
        error: String::new(),
    })
}

/// The choices of a key whose value is one of a fixed set.
fn choices(key: &str) -> Option<&'static [&'static str]> {
    let last = key.rsplit('.').next().unwrap_or(key);
    Some(match last {
        "unprocessable" => &["deliver", "drop", "bounce", "hold"],
        "action" if key == "blocking.encrypted.action" => &["delete", "drop", "log", "forward"],
        "action" => &["drop", "log", "forward"],
        "mode" if key == "relay.mode" => &["allow", "listed"],
        "mode" if key == "antivirus.quarantine.mode" => &["nothing", "unrepaired", "all"],
        "inbound" | "outbound" => &["disable", "on_error", "all"],
        "data" => &["ignore", "summarize", "echo"],
        "scan_policy" => &["all", "include", "exclude"],
        "on_detect" => &["repair", "delete", "log"],
        "on_unrepairable" => &["delete", "log"],
        "on_not_removed" => &["drop", "log"],
        "heuristic_level" => &["off", "low", "medium", "high"],
        "kind" => &["builtin", "clamd", "heuristics"],
        "retain" => &["1w", "2w", "1m", "3m", "6m", "1y", "never"],
        _ => return None,
    })
}

/// `max_outgoing_connections` → "Max outgoing connections".
fn label(key: &str) -> String {
    let words = key.replace('_', " ");
    let mut chars = words.chars();
    chars.next().map(|c| c.to_uppercase().chain(chars).collect()).unwrap_or_default()
}

fn lookup<'a>(json: &'a Value, table: &str) -> Option<&'a Value> {
    table.split('.').try_fold(json, |v, part| v.get(part))
}

fn lookup_mut<'a>(json: &'a mut Value, key: &str) -> Option<&'a mut Value> {
    key.split('.').try_fold(json, |v, part| v.get_mut(part))
}

/// The field for `key` holding `value`; `None` for tables and lists of
/// tables, which have pages of their own.
fn field(key: String, value: &Value) -> Option<Field> {
    let mut f = Field {
        label: label(key.rsplit('.').next().unwrap_or(&key)),
        name: key,
        kind: "text",
        value: String::new(),
        checked: false,
        options: Vec::new(),
        error: String::new(),
        integer: false,
    };
    match value {
        Value::Bool(b) => (f.kind, f.checked) = ("checkbox", *b),
        Value::Number(n) => (f.kind, f.value, f.integer) = ("number", n.to_string(), !n.is_f64()),
        Value::String(s) => {
            f.value = s.clone();
            f.kind = match choices(&f.name) {
                Some(options) => {
                    f.options = options.iter().map(|o| o.to_string()).collect();
                    "select"
                }
                None if s.contains('\n') || s.len() > 70 || f.name.ends_with("_text") || f.name.ends_with("_body") => {
                    "textarea"
                }
                None => "text",
            };
        }
        Value::Array(items) if items.iter().all(|v| !v.is_object()) => {
            f.kind = "lines";
            f.value = items
                .iter()
                .map(|v| v.as_str().map_or_else(|| v.to_string(), str::to_string))
                .collect::<Vec<_>>()
                .join("\n");
        }
        _ => return None,
    }
    Some(f)
}

/// The first value posted under `name` ("" when absent).
pub fn posted_value<'a>(posted: &'a [(String, String)], name: &str) -> &'a str {
    posted.iter().find(|(k, _)| k == name).map_or("", |(_, v)| v.as_str())
}

/// The field sets of `groups` filled from `config`.
pub fn fields(config: &Config, groups: &[Group]) -> Vec<FieldSet> {
    let json = serde_json::to_value(config).unwrap_or(Value::Null);
    groups
        .iter()
        .map(|g| {
            let table = lookup(&json, g.table).and_then(Value::as_object);
            let keys =
                || table.into_iter().flatten().filter(|(k, _)| g.keys.is_empty() || g.keys.contains(&k.as_str()));
            let fields = keys().filter_map(|(k, v)| field(format!("{}.{k}", g.table), v)).collect();
            let records = keys().filter_map(|(k, v)| records(format!("{}.{k}", g.table), v.as_array()?)).collect();
            FieldSet { title: g.title, fields, records }
        })
        .collect()
}

/// Read a field's posted `input` back into it and into its JSON value;
/// `None` (with the problem noted) when it is not of the field's kind.
fn read(f: &mut Field, input: Option<String>, problems: &mut Vec<Problem>) -> Option<Value> {
    Some(match f.kind {
        "checkbox" => {
            f.checked = input.is_some();
            Value::Bool(f.checked)
        }
        "number" => {
            f.value = input.unwrap_or_default().trim().to_string();
            let parsed = if f.integer {
                f.value.parse::<i64>().ok().map(Value::from)
            } else {
                f.value.parse::<f64>().ok().and_then(|n| serde_json::Number::from_f64(n).map(Value::Number))
            };
            if parsed.is_none() {
                let what = if f.integer { "a whole number" } else { "a number" };
                problems.push(Problem::new(f.name.clone(), &f.value, what));
            }
            parsed?
        }
        "lines" => {
            f.value = input.unwrap_or_default();
            Value::Array(
                f.value.lines().map(str::trim).filter(|l| !l.is_empty()).map(|l| Value::String(l.into())).collect(),
            )
        }
        _ => {
            f.value = input.unwrap_or_default();
            Value::String(f.value.clone())
        }
    })
}

/// Apply a posted form to `config`: the new configuration, or the field
/// sets with every problem placed next to its field (the rest in the
/// second list).
pub fn apply(
    config: &Config,
    groups: &[Group],
    posted: &[(String, String)],
) -> Result<Config, (Vec<FieldSet>, Vec<String>)> {
    let mut sets = fields(config, groups);
    let mut json = serde_json::to_value(config).unwrap_or(Value::Null);
    let get =
        |name: &str| posted.iter().any(|(k, _)| k == name).then(|| posted_value(posted, name).replace("\r\n", "\n"));
    let mut problems = Vec::new();
    for f in sets.iter_mut().flat_map(|s| s.fields.iter_mut()) {
        let input = get(&f.name);
        if let Some(new) = read(f, input, &mut problems)
            && let Some(slot) = lookup_mut(&mut json, &f.name)
        {
            *slot = new;
        }
    }
    for r in sets.iter_mut().flat_map(|s| s.records.iter_mut()) {
        let mut kept = Vec::new();
        for (i, row) in r.rows.iter_mut().enumerate() {
            let mut entry = serde_json::Map::new();
            for f in row.iter_mut() {
                let column = f.name.rsplit('.').next().unwrap_or_default().to_string();
                if let Some(value) = read(f, get(&f.name), &mut problems) {
                    entry.insert(column, value);
                }
            }
            if get(&format!("{}.{i}.use", r.name)).is_some() {
                kept.push(Value::Object(entry));
            }
        }
        if let Some(slot) = lookup_mut(&mut json, &r.name) {
            *slot = Value::Array(kept);
        }
    }
    let result = if problems.is_empty() { Config::from_json(json) } else { Err(problems) };
    result.map_err(|problems| place(sets, problems))
}

/// True if the problem `key` is about `name` or something inside it.
fn names(key: &str, name: &str) -> bool {
    key.strip_prefix(name).is_some_and(|rest| rest.is_empty() || rest.starts_with(['[', '.']))
}

/// Where a problem with `key` is shown: its field's message, else its
/// list's.
fn error_slot<'a>(sets: &'a mut [FieldSet], key: &str) -> Option<&'a mut String> {
    let in_fields = sets.iter().any(|s| s.fields.iter().any(|f| names(key, &f.name)));
    if in_fields {
        sets.iter_mut().flat_map(|s| s.fields.iter_mut()).find(|f| names(key, &f.name)).map(|f| &mut f.error)
    } else {
        sets.iter_mut().flat_map(|s| s.records.iter_mut()).find(|r| names(key, &r.name)).map(|r| &mut r.error)
    }
}

/// The entry number (from 1) and column a key like `x.list[1].column`
/// names.
fn entry_of(key: &str) -> Option<(usize, &str)> {
    let (_, rest) = key.split_once('[')?;
    let (index, column) = rest.split_once("].")?;
    Some((index.parse::<usize>().ok()? + 1, column))
}

/// Attach each problem to the field (or list) its key names.
pub fn place(mut sets: Vec<FieldSet>, problems: Vec<Problem>) -> (Vec<FieldSet>, Vec<String>) {
    let mut general = Vec::new();
    for p in problems {
        let text = if p.value.is_empty() {
            p.allowed.clone()
        } else {
            format!("{:?} is not allowed: use {}", p.value, p.allowed)
        };
        let text = match entry_of(&p.key) {
            Some((n, column)) => format!("Entry {n}, {}: {text}", label(column).to_lowercase()),
            None => text,
        };
        match error_slot(&mut sets, &p.key) {
            Some(slot) if slot.is_empty() => *slot = text,
            Some(slot) => *slot = format!("{slot}; {text}"),
            None => general.push(p.to_string()),
        }
    }
    (sets, general)
}

#[cfg(test)]
mod tests {
    use super::*;

    const GROUPS: &[Group] = &[
        Group { title: "Delivery", table: "delivery", keys: &[] },
        Group { title: "Subject", table: "blocking.subject", keys: &["enabled", "patterns", "action"] },
    ];

    /// The form as the page shows `groups`, with `changes` made.
    fn posted_for(config: &Config, groups: &[Group], changes: &[(&str, &str)]) -> Vec<(String, String)> {
        let sets = fields(config, groups);
        let in_lists = sets.iter().flat_map(|s| &s.records).flat_map(|r| {
            let used = (0..r.entries).map(|i| Field {
                name: format!("{}.{i}.use", r.name),
                checked: true,
                ..r.rows[0][0].clone()
            });
            r.rows.iter().flatten().cloned().chain(used.map(|f| Field { kind: "checkbox", ..f }))
        });
        let mut form: Vec<(String, String)> = sets
            .iter()
            .flat_map(|s| s.fields.clone())
            .chain(in_lists)
            .filter(|f| f.kind != "checkbox" || f.checked)
            .map(|f| (f.name, if f.kind == "checkbox" { "on".into() } else { f.value }))
            .collect();
        for (key, value) in changes {
            form.retain(|(k, _)| k != key);
            form.push((key.to_string(), value.to_string()));
        }
        form
    }

    fn posted(config: &Config, changes: &[(&str, &str)]) -> Vec<(String, String)> {
        posted_for(config, GROUPS, changes)
    }

    const SCANNERS: &[Group] = &[Group { title: "Antivirus", table: "antivirus", keys: &["scanners"] }];

    #[test]
    fn lists_of_tables_are_edited_as_rows() {
        let old = Config::default();
        let sets = fields(&old, SCANNERS);
        let list = &sets[0].records[0];
        assert_eq!((list.name.as_str(), list.entries, list.rows.len()), ("antivirus.scanners", 1, 2));
        assert_eq!(list.rows[0][0].kind, "select", "{list:?}");

        let add = [
            ("antivirus.scanners.1.use", "on"),
            ("antivirus.scanners.1.kind", "clamd"),
            ("antivirus.scanners.1.address", "127.0.0.1:3310"),
            ("antivirus.scanners.1.timeout_seconds", "10"),
        ];
        let new = apply(&old, SCANNERS, &posted_for(&old, SCANNERS, &add)).unwrap();
        assert_eq!(new.antivirus.scanners.len(), 2);
        assert_eq!(new.antivirus.scanners[1].address, "127.0.0.1:3310");

        let mut removed = posted_for(&new, SCANNERS, &[]);
        removed.retain(|(k, _)| k != "antivirus.scanners.0.use");
        let newer = apply(&new, SCANNERS, &removed).unwrap();
        assert_eq!(newer.antivirus.scanners, new.antivirus.scanners[1..]);

        let bad = [("antivirus.scanners.1.use", "on"), ("antivirus.scanners.1.kind", "clamd")];
        let (sets, general) = apply(&old, SCANNERS, &posted_for(&old, SCANNERS, &bad)).unwrap_err();
        assert!(sets[0].records[0].error.starts_with("Entry 2, address: "), "{sets:?} {general:?}");
        assert!(general.is_empty(), "{general:?}");
    }

    #[test]
    fn fields_follow_the_values() {
        let sets = fields(&Config::default(), GROUPS);
        let by_name = |n: &str| sets.iter().flat_map(|s| &s.fields).find(|f| f.name == n).unwrap().clone();
        assert_eq!(by_name("delivery.pause").kind, "checkbox");
        assert_eq!(by_name("delivery.max_outgoing_connections").kind, "number");
        assert_eq!(by_name("delivery.max_outgoing_connections").label, "Max outgoing connections");
        assert_eq!(by_name("blocking.subject.action").kind, "select");
        assert_eq!(by_name("blocking.subject.patterns").kind, "lines");
        assert_eq!(sets[1].fields.len(), 3);
    }

    #[test]
    fn a_good_form_becomes_the_new_configuration() {
        let old = Config::default();
        let form = posted(
            &old,
            &[
                ("delivery.pause", "on"),
                ("blocking.subject.enabled", "on"),
                ("blocking.subject.patterns", "*lottery*\r\n\r\n  *free money*  \r\n"),
            ],
        );
        let new = apply(&old, GROUPS, &form).unwrap();
        assert!(new.delivery.pause && new.blocking.subject.enabled);
        assert_eq!(new.blocking.subject.patterns, ["*lottery*", "*free money*"]);
        assert_eq!(new.delivery.max_outgoing_connections, old.delivery.max_outgoing_connections);
    }

    #[test]
    fn problems_stand_next_to_their_fields() {
        let old = Config::default();
        let error = |sets: &[FieldSet], n: &str| {
            sets.iter().flat_map(|s| &s.fields).find(|f| f.name == n).unwrap().error.clone()
        };
        let (sets, general) =
            apply(&old, GROUPS, &posted(&old, &[("delivery.retry_min_seconds", "soon")])).unwrap_err();
        assert!(error(&sets, "delivery.retry_min_seconds").contains("a whole number"), "{sets:?}");
        assert!(general.is_empty(), "{general:?}");
        let form = posted(&old, &[("delivery.max_outgoing_connections", "0")]);
        let (sets, _) = apply(&old, GROUPS, &form).unwrap_err();
        assert!(error(&sets, "delivery.max_outgoing_connections").contains("from 1 to"), "{sets:?}");
        let (sets, _) = apply(&old, GROUPS, &posted(&old, &[("delivery.max_outgoing_connections", "-5")])).unwrap_err();
        assert!(error(&sets, "delivery.max_outgoing_connections").contains("-5"), "{sets:?}");
    }
}
