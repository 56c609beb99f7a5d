//! Saving a changed configuration back to its file: only the keys whose
//! values changed are rewritten, in place, so the administrator's comments,
//! order and untouched keys survive an edit made from the browser. The new
//! file replaces the old one atomically (written, synced, renamed).

use super::Config;
use std::io::Write;
use std::path::Path;
use toml_edit::{DocumentMut, Item, Table};

/// Write `new` over the file at `path`, which holds (or, missing, stands
/// for the defaults of) `old`.
pub fn save(path: &Path, old: &Config, new: &Config) -> anyhow::Result<()> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(e) => return Err(e.into()),
    };
    let mut doc: DocumentMut = text.parse()?;
    let (old, new) = (toml::Table::try_from(old)?, toml::Table::try_from(new)?);
    merge(doc.as_table_mut(), &old, &new)?;
    write_atomically(path, doc.to_string().as_bytes())
}

/// Set in `doc` every key of `new` whose value differs from `old`,
/// descending into tables so untouched siblings keep their formatting.
fn merge(doc: &mut Table, old: &toml::Table, new: &toml::Table) -> anyhow::Result<()> {
    for (key, value) in new {
        let before = old.get(key);
        if before == Some(value) {
            continue;
        }
        match (value, before) {
            (toml::Value::Table(new_table), Some(toml::Value::Table(old_table))) => {
                let entry = doc.entry(key).or_insert_with(|| Item::Table(implicit_table()));
                if !entry.is_table_like() {
                    *entry = Item::Table(implicit_table());
                }
                match entry.as_table_mut() {
                    Some(table) => merge(table, old_table, new_table)?,
                    // An inline table: replaced whole.
                    None => *entry = item(key, value)?,
                }
            }
            _ => match doc.get_mut(key) {
                // Keep the key's comments and the value's trailing comment.
                Some(Item::Value(old)) => {
                    let decor = old.decor().clone();
                    if let Item::Value(mut new) = item(key, value)? {
                        *new.decor_mut() = decor;
                        *old = new;
                    }
                }
                Some(existing) => *existing = item(key, value)?,
                None => {
                    doc.insert(key, item(key, value)?);
                }
            },
        }
    }
    Ok(())
}

/// A table made only to hold changed keys: no header of its own.
fn implicit_table() -> Table {
    let mut table = Table::new();
    table.set_implicit(true);
    table
}

/// Where tables written by an edit go: after every table of the file.
const AT_THE_END: usize = usize::MAX / 2;

/// `value` as a TOML item, arrays of tables included, by letting the
/// serializer write it under `key` and reading it back.
fn item(key: &str, value: &toml::Value) -> anyhow::Result<Item> {
    let mut wrapper = toml::Table::new();
    wrapper.insert(key.to_string(), value.clone());
    let doc: DocumentMut = toml::to_string(&wrapper)?.parse()?;
    let mut item = doc.get(key).cloned().unwrap_or(Item::None);
    match &mut item {
        Item::Table(t) => t.set_position(AT_THE_END),
        Item::ArrayOfTables(a) => a.iter_mut().for_each(|t| t.set_position(AT_THE_END)),
        _ => {}
    }
    Ok(item)
}

/// Replace `path` by a file with `bytes`, never leaving a half-written one.
fn write_atomically(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    // Beside the file, so the rename is atomic.
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("config");
    let tmp = dir.join(format!(".{name}.{}.tmp", std::process::id()));
    let mut file = std::fs::File::create(&tmp)?;
    file.write_all(bytes)?;
    file.sync_all()?;
    std::fs::rename(&tmp, path)?;
    std::fs::File::open(dir)?.sync_all()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_changed_keys_are_written_and_comments_stay() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("mxguard.toml");
        let text = "# the site's gateway\n[delivery]\n# keep mail flowing\npause = false\n\n[smtp]\nhostname = \"mx.example.com\"  # public name\n";
        std::fs::write(&path, text).unwrap();
        let old = Config::from_toml(text).unwrap();
        let mut new = old.clone();
        new.delivery.pause = true;
        new.delivery.retry_min_seconds = 120;
        new.routing.local.push(crate::config::LocalRoute { name: "example.com".into(), relay: "10.0.0.1:25".into() });
        save(&path, &old, &new).unwrap();
        let saved = std::fs::read_to_string(&path).unwrap();
        assert!(saved.starts_with("# the site's gateway\n[delivery]\n# keep mail flowing\npause = true\n"), "{saved}");
        assert!(saved.contains("hostname = \"mx.example.com\"  # public name"), "{saved}");
        assert!(saved.contains("retry_min_seconds = 120"), "{saved}");
        assert!(!saved.contains("max_outgoing_connections"), "unchanged defaults are not written: {saved}");
        assert_eq!(Config::from_toml(&saved).unwrap(), new);
    }

    #[test]
    fn a_missing_file_gets_the_changes() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("new.toml");
        let old = Config::default();
        let mut new = old.clone();
        new.admin.timeout_minutes = 15;
        save(&path, &old, &new).unwrap();
        assert_eq!(Config::from_toml(&std::fs::read_to_string(&path).unwrap()).unwrap(), new);
    }
}
