//! The event store under a busy day: 1,000,000 events spread over 24
//! hours (a realistic mix of actions) go through the writer as the gateway
//! sends them, then the Summary and Detail reports run over that day.
//! Prints a table. Run with `cargo bench --bench report`.

use mxguard::events::store::{EventStore, SqliteStore, spawn_writer};
use mxguard::events::{Category, Record};
use mxguard::report::DetailQuery;
use std::time::{Duration, Instant};

const EVENTS: i64 = 1_000_000;
const DAY_MS: i64 = 86_400_000;
/// 2026-01-01T00:00:00Z.
const DAY: i64 = 1_767_225_600_000;

/// Actions by share of events (per mille), as a gateway sees them: every
/// message is a connection, an acceptance, deliveries and a completion;
/// a few are refused or blocked.
const MIX: [(u32, Category, &str); 18] = [
    (150, Category::Smtp, "Connection from"),
    (150, Category::Smtp, "Connection closed"),
    (130, Category::Message, "Accepted"),
    (80, Category::Smtp, "Connected to"),
    (80, Category::Smtp, "Disconnected"),
    (160, Category::Message, "Delivered"),
    (130, Category::Message, "Completed"),
    (30, Category::Smtp, "Rejected"),
    (10, Category::Blocking, "Spam list block"),
    (10, Category::Message, "Bounced"),
    (10, Category::Message, "Delivery failed"),
    (15, Category::Blocking, "File deleted"),
    (5, Category::Blocking, "Virus logged"),
    (5, Category::Blocking, "File repaired"),
    (10, Category::Blocking, "Subject blocked"),
    (10, Category::Blocking, "Attachment deleted"),
    (10, Category::Blocking, "Heuristic spam detection"),
    (5, Category::System, "Object modified"),
];

const SUBJECTS: [&str; 6] = [
    "Quarterly report",
    "Re: lunch on Friday?",
    "Invoice 2026-0117 (please pay by Monday)",
    "Your parcel is waiting",
    "Win money now",
    "Rechnung für Sie",
];
const VIRUSES: [&str; 4] = ["Eicar-Test-Signature", "Win.Trojan.Agent-1", "Doc.Dropper.Emotet", "Html.Phishing.Bank"];

/// A deterministic stream of pseudo-random numbers (xorshift).
struct Dice(u64);

impl Dice {
    fn next(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

fn event(i: i64, dice: &mut Dice) -> Record {
    let mut roll = dice.next(1000) as u32;
    let (_, category, action) =
        MIX.iter().find(|(share, ..)| roll.checked_sub(*share).map(|r| roll = r).is_none()).unwrap_or(&MIX[0]);
    let msg = dice.next(200_000);
    let mut r = Record {
        time: DAY + i * DAY_MS / EVENTS,
        category: Some(*category),
        action: action.to_string(),
        smtp_id: format!("1K{msg:014X}"),
        connection_id: format!("C{:08}", msg / 3),
        client_ip: format!("198.51.{}.{}", msg % 256, msg / 256 % 256),
        sender: format!("user{}@sender{}.example", msg % 5000, msg % 300),
        recipients: format!("staff{}@example.com", msg % 800),
        subject: SUBJECTS[dice.next(SUBJECTS.len() as u64) as usize].into(),
        bytes: 2_000 + dice.next(200_000),
        ..Record::default()
    };
    match *action {
        "Rejected" => r.matched = ["size", "relay", "characters"][dice.next(3) as usize].into(),
        "Spam list block" => (r.matched, r.handling) = ("zen.spamhaus.example".into(), "refused".into()),
        "File deleted" | "Virus logged" | "File repaired" => {
            r.virus = VIRUSES[dice.next(4) as usize].into();
            r.file = "invoice.zip/invoice.exe".into();
        }
        "Attachment deleted" => (r.file, r.matched) = (format!("setup{}.scr", dice.next(20)), "*.scr".into()),
        "Delivered" => r.matched = "mail.example.com".into(),
        "Connection closed" => r.reason = "last command \"QUIT\", last response \"221 2.0.0 Bye\"".into(),
        _ => {}
    }
    r
}

/// The best of `runs` timings of `f`, and its last result.
fn best<T>(runs: usize, mut f: impl FnMut() -> T) -> (Duration, T) {
    let mut best = Duration::MAX;
    let mut out = None;
    for _ in 0..runs {
        let start = Instant::now();
        out = Some(f());
        best = best.min(start.elapsed());
    }
    (best, out.expect("at least one run"))
}

fn main() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let mut dice = Dice(0x9E37_79B9_7F4A_7C15);
    let records: Vec<Record> = (0..EVENTS).map(|i| event(i, &mut dice)).collect();

    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    let writer = spawn_writer(SqliteStore::open(dir.path())?, rx, || true)?;
    let start = Instant::now();
    for r in records {
        tx.send(r)?;
    }
    drop(tx);
    writer.join().map_err(|_| anyhow::anyhow!("the writer panicked"))?;
    let insert = start.elapsed();
    let size = std::fs::metadata(SqliteStore::path(dir.path()))?.len();

    let store = SqliteStore::open_readonly(dir.path())?;
    let (first_summary, _) = best(1, || store.summary(DAY, DAY + DAY_MS));
    let (summary, s) = best(5, || store.summary(DAY, DAY + DAY_MS));
    let s = s?;
    let day = DetailQuery { from: DAY, to: DAY + DAY_MS, ..DetailQuery::default() };
    let queries = [
        ("detail, all, first 1,000", DetailQuery { limit: Some(1000), ..day.clone() }),
        ("detail, blocking, whole day", DetailQuery { categories: vec![Category::Blocking], ..day.clone() }),
        ("detail, search \"WIN.TROJAN\"", DetailQuery { search: Some("WIN.TROJAN".into()), ..day.clone() }),
        ("detail, search \"no such text\"", DetailQuery { search: Some("no such text".into()), ..day.clone() }),
        (
            "detail, search \"FÜR\", first 1,000",
            DetailQuery { search: Some("FÜR".into()), limit: Some(1000), ..day.clone() },
        ),
    ];

    println!("| {EVENTS} events over one day | result |");
    println!("|---|---|");
    println!(
        "| insert through the writer | {:.2} s, {:.0} events/s |",
        insert.as_secs_f64(),
        EVENTS as f64 / insert.as_secs_f64()
    );
    println!("| store size | {:.0} MB ({} bytes/event) |", size as f64 / 1e6, size / EVENTS as u64);
    println!("| summary, first run | {:.0} ms |", first_summary.as_secs_f64() * 1e3);
    println!("| summary, best of 5 | {:.0} ms |", summary.as_secs_f64() * 1e3);
    for (name, q) in &queries {
        let (t, rows) = best(3, || store.detail(q));
        println!("| {name}, best of 3 | {:.0} ms, {} events |", t.as_secs_f64() * 1e3, rows?.len());
    }
    println!(
        "\nsummary: {} accepted ({} KB), {} delivered, {} rejected ({} by size), {} infections, {} virus names",
        s.messages_accepted,
        s.data_accepted_kb,
        s.messages_delivered,
        s.messages_rejected,
        s.messages_blocked_by_size,
        s.infections_total,
        s.viruses.len()
    );
    Ok(())
}
