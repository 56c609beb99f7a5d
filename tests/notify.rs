//! Notifications and system alerts end to end: real traffic through SMTP,
//! the notices and alerts arrive at a real downstream with their metatags
//! filled, to the right recipients, and never to an empty sender.

mod common;
mod corpus;

use common::{Gateway, Sink, submit, test_dir, wait_for};
use corpus::Mail;
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(30);

fn eicar() -> Vec<u8> {
    [b"X5O!P%@AP[4\\PZX54(P^)7CC)7}$EICAR".as_slice(), b"-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*"].concat()
}

/// Messages received for `rcpt` whose subject line contains `subject`.
fn received(sink: &Sink, rcpt: &str, subject: &str) -> Vec<String> {
    let to = format!("X-Rcpt-Args: <{rcpt}>");
    sink.messages()
        .into_iter()
        .filter(|m| m.contains(&to) && m.lines().any(|l| l.starts_with("Subject:") && l.contains(subject)))
        .collect()
}

#[test]
fn virus_notices_and_alerts_reach_the_right_people() {
    let dir = test_dir();
    let sink = Sink::start(dir.path(), &[]);
    let config = format!(
        "[[routing.local]]\nname = \"example.com\"\nrelay = \"127.0.0.1:{p}\"\n\
         [[routing.local]]\nname = \"sender.test\"\nrelay = \"127.0.0.1:{p}\"\n\
         [antivirus]\nheuristic_level = \"off\"\non_detect = \"delete\"\n\
         [notify]\nfrom_name = \"Gateway Notices\"\nadmin_addresses = [\"admin@example.com\"]\n\
         [notify.virus]\nnotify_sender = true\nnotify_admin = true\n\
         [alerts]\nmin_free_percent = 100\n",
        p = sink.port
    );
    let gw = Gateway::start(dir.path(), "", &config);
    let infected = |from: &str, subject: &str| {
        let mail = Mail::new(subject).attach("invoice.com", &eicar()).build();
        assert!(submit(gw.port, from, &["b@example.com"], &mail).starts_with("250"));
    };
    infected("a@sender.test", "infected from a person");
    infected("", "infected from nobody");

    let to_sender = || received(&sink, "a@sender.test", "Virus found in message you sent");
    assert!(wait_for(WAIT, || !to_sender().is_empty()), "sender notice; log:\n{}", gw.log());
    let notice = &to_sender()[0];
    assert!(notice.contains("Eicar-Test-Signature") && notice.contains("invoice.com"), "{notice}");
    assert!(notice.contains("infected from a person"), "{{$MSGINFO}} names the message: {notice}");
    assert!(!notice.contains("{$"), "every metatag replaced: {notice}");
    assert!(notice.contains("From: \"Gateway Notices\" <postmaster@mx.test.example>"), "{notice}");
    assert!(notice.contains("X-Mail-Args: <>"), "sent with an empty envelope sender: {notice}");

    let to_admin = || received(&sink, "admin@example.com", "Virus found");
    assert!(wait_for(WAIT, || to_admin().len() >= 2), "an admin notice per infected message");
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(to_sender().len(), 1, "one notice per message, none for the empty sender");
    assert!(sink.messages().iter().all(|m| !m.contains("X-Rcpt-Args: <>")), "nothing sent to <>");

    for alert in [
        "Gateway Notices alert: Application start",
        "Gateway Notices alert: Low disk space",
        "Gateway Notices alert: Low memory",
    ] {
        let arrived = wait_for(WAIT, || !received(&sink, "admin@example.com", alert).is_empty());
        assert!(arrived, "{alert}; log:\n{}", gw.log());
    }
    let low_disk = received(&sink, "admin@example.com", "Low disk space");
    assert_eq!(low_disk.len(), 1, "alerts of one kind are limited to one per 5 minutes");
}
