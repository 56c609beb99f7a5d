//! The item list's query string (filters, sort, page) turned into SQL with
//! bound parameters. Only known column names ever reach the SQL text; every
//! value is a parameter. A bad parameter is named with what it allows.

use super::status::Status;
use chrono::{DateTime, NaiveDate};
use rusqlite::types::Value;

/// Items per page unless `per_page` says otherwise.
const DEFAULT_PER_PAGE: u64 = 100;
const MAX_PER_PAGE: u64 = 1000;
/// Sortable fields: the name in the query and the SQL expression.
const SORTS: [(&str, &str); 13] = [
    ("received", "received"),
    ("id", "id"),
    ("file_name", "file_name"),
    ("virus", "virus"),
    ("status", "status"),
    ("gateway", "gateway"),
    ("sender", "sender"),
    ("recipients", "recipients"),
    ("subject", "subject"),
    ("size", "size"),
    ("sightings", "sightings"),
    ("definitions_needed", "definitions_needed"),
    ("error", "error"),
];
/// Substring filters (case-insensitive): the parameter and its column.
const TEXT_FILTERS: [(&str, &str); 7] = [
    ("virus", "virus"),
    ("gateway", "gateway"),
    ("sender", "sender"),
    ("recipient", "recipients"),
    ("file_name", "file_name"),
    ("subject", "subject"),
    ("sha256", "sha256"),
];

/// A query parameter that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadParameter {
    pub name: String,
    pub value: String,
    pub allowed: String,
}

/// A parsed list request.
#[derive(Debug, Clone)]
pub struct Listing {
    /// `WHERE` conditions joined with `AND` (`1` when none).
    pub conditions: String,
    pub params: Vec<Value>,
    /// `ORDER BY` clause content.
    pub order: String,
    pub page: u64,
    pub per_page: u64,
}

impl Listing {
    /// Parse `status`, `virus`, `gateway`, `sender`, `recipient`,
    /// `file_name`, `subject`, `sha256`, `from`, `to` (RFC 3339 or
    /// YYYY-MM-DD, `to` inclusive), `sort`, `order` (asc/desc), `page`
    /// (from 1) and `per_page`.
    pub fn parse(pairs: &[(String, String)]) -> Result<Listing, BadParameter> {
        let mut conditions = Vec::new();
        let mut params = Vec::new();
        let (mut sort, mut descending) = ("received", true);
        let (mut page, mut per_page) = (1, DEFAULT_PER_PAGE);
        for (name, value) in pairs {
            let bad =
                |allowed: &str| BadParameter { name: name.clone(), value: value.clone(), allowed: allowed.into() };
            if let Some((_, column)) = TEXT_FILTERS.iter().find(|(n, _)| n == name) {
                conditions.push(format!("instr(lower({column}), lower(?)) > 0"));
                params.push(Value::Text(value.clone()));
                continue;
            }
            match name.as_str() {
                "status" => {
                    let status = Status::parse(value).ok_or_else(|| bad(&format!("one of {}", Status::allowed())))?;
                    conditions.push("status = ?".to_string());
                    params.push(Value::Text(status.name().into()));
                }
                "from" | "to" => {
                    let (start, end) = parse_time(value).ok_or_else(|| bad("a date YYYY-MM-DD or an RFC 3339 time"))?;
                    if name == "from" {
                        conditions.push("received >= ?".to_string());
                        params.push(Value::Integer(start));
                    } else {
                        conditions.push("received <= ?".to_string());
                        params.push(Value::Integer(end));
                    }
                }
                "sort" => {
                    let allowed = SORTS.map(|(n, _)| n).join(", ");
                    sort = SORTS.iter().find(|(n, _)| n == value).map(|(_, c)| *c).ok_or_else(|| bad(&allowed))?;
                }
                "order" => {
                    descending = match value.to_ascii_lowercase().as_str() {
                        "asc" => false,
                        "desc" => true,
                        _ => return Err(bad("asc or desc")),
                    }
                }
                "page" => page = value.parse().ok().filter(|p| *p >= 1).ok_or_else(|| bad("a number from 1"))?,
                "per_page" => {
                    per_page = value
                        .parse()
                        .ok()
                        .filter(|n| (1..=MAX_PER_PAGE).contains(n))
                        .ok_or_else(|| bad(&format!("a number from 1 to {MAX_PER_PAGE}")))?
                }
                _ => {
                    let known: Vec<&str> = TEXT_FILTERS
                        .iter()
                        .map(|(n, _)| *n)
                        .chain(["status", "from", "to", "sort", "order", "page", "per_page"])
                        .collect();
                    return Err(bad(&format!("a known parameter: {}", known.join(", "))));
                }
            }
        }
        let direction = if descending { "DESC" } else { "ASC" };
        Ok(Listing {
            conditions: if conditions.is_empty() { "1".into() } else { conditions.join(" AND ") },
            params,
            order: format!("{sort} {direction}, id {direction}"),
            page,
            per_page,
        })
    }

    /// The `OFFSET` of the page.
    pub fn offset(&self) -> u64 {
        (self.page - 1).saturating_mul(self.per_page)
    }
}

/// The first and last second a date or time stands for.
fn parse_time(value: &str) -> Option<(i64, i64)> {
    if let Ok(t) = DateTime::parse_from_rfc3339(value) {
        return Some((t.timestamp(), t.timestamp()));
    }
    let day = NaiveDate::parse_from_str(value, "%Y-%m-%d").ok()?;
    let start = day.and_hms_opt(0, 0, 0)?.and_utc().timestamp();
    Some((start, start + 86_399))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(q: &[(&str, &str)]) -> Vec<(String, String)> {
        q.iter().map(|(a, b)| (a.to_string(), b.to_string())).collect()
    }

    #[test]
    fn filters_become_bound_parameters() {
        let l = Listing::parse(&pairs(&[("status", "Held"), ("virus", "eicar"), ("from", "2024-01-02")])).unwrap();
        assert_eq!(l.conditions, "status = ? AND instr(lower(virus), lower(?)) > 0 AND received >= ?");
        assert_eq!(
            l.params,
            vec![Value::Text("held".into()), Value::Text("eicar".into()), Value::Integer(1_704_153_600)]
        );
        assert_eq!(l.order, "received DESC, id DESC");
        assert_eq!((l.page, l.per_page, l.offset()), (1, 100, 0));
    }

    #[test]
    fn sort_and_paging() {
        let l =
            Listing::parse(&pairs(&[("sort", "virus"), ("order", "asc"), ("page", "3"), ("per_page", "10")])).unwrap();
        assert_eq!(l.order, "virus ASC, id ASC");
        assert_eq!(l.offset(), 20);
        let to = Listing::parse(&pairs(&[("to", "2024-01-02")])).unwrap();
        assert_eq!(to.params, vec![Value::Integer(1_704_239_999)]);
    }

    #[test]
    fn bad_parameters_are_named() {
        for (name, value) in
            [("status", "lost"), ("sort", "id; DROP TABLE items"), ("page", "0"), ("from", "May"), ("x", "1")]
        {
            let e = Listing::parse(&pairs(&[(name, value)])).unwrap_err();
            assert_eq!((e.name.as_str(), e.value.as_str()), (name, value));
            assert!(!e.allowed.is_empty());
        }
    }
}
