//! Heuristic spam scoring (SPEC §4 "Heuristic spam"): weighted rules from
//! `etc/spam-rules.toml` (patterns on headers, body text and links, plus a few
//! structural checks) add up to a score in percent, and the sensitivity
//! setting (1–5) picks the score at or above which a message counts as spam.
//!
//! Scoring is bounded whatever the message: only the first 256 KiB of body
//! source and the first 200 distinct links are examined, and every pattern is
//! a `regex` one, which runs in linear time.

use mail_parser::{Addr, Address, Header, HeaderValue, Message, PartType};
use regex::{Captures, Regex, RegexBuilder};
use serde::Deserialize;
use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::net::IpAddr;
use std::sync::{LazyLock, OnceLock};

/// Body source (plain text and HTML, before tags are removed) examined per
/// message, so a huge message costs no more than a large one.
const MAX_BODY_BYTES: usize = 256 * 1024;
/// Distinct links (and HTML anchors) examined per message.
const MAX_URLS: usize = 200;
/// A rule's weight can at most make the score 100% on its own.
const MAX_WEIGHT: u8 = 100;
/// `subject-shouting` ignores subjects with fewer letters ("RE: FYI").
const SHOUTING_MIN_LETTERS: usize = 10;
/// `many-links` fires above this many distinct links.
const MANY_LINKS: usize = 25;
/// `many-exclamations` needs at least this many marks...
const MIN_EXCLAMATIONS: usize = 5;
/// ...and at least one in every this many characters of subject and body.
const CHARS_PER_EXCLAMATION: usize = 100;
/// HTML elements that do not break words: spammers split words with them
/// ("FR<b></b>EE"), so they vanish from the text instead of becoming spaces.
const INLINE_TAGS: [&str; 13] =
    ["a", "abbr", "b", "big", "em", "font", "i", "mark", "s", "small", "span", "strong", "u"];
/// HTML elements whose content is never shown to the reader.
const HIDDEN_TAGS: [&str; 2] = ["script", "style"];

/// The compiled rules of a rules file; compile once, score many messages.
#[derive(Debug)]
pub struct SpamRules {
    /// Rules with a weight above zero, structural checks first.
    rules: Vec<Rule>,
}

/// How spammy one message looks: what the gateway acts on and logs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SpamScore {
    /// Sum of the matched rules' weights, capped at 100.
    pub percent: u8,
    /// Names of the rules that matched (structural checks first, then
    /// pattern rules in file order), so the log says why a message scored
    /// what it did.
    pub hits: Vec<String>,
}

#[derive(Debug)]
struct Rule {
    name: String,
    weight: u8,
    test: Test,
}

#[derive(Debug)]
enum Test {
    Pattern(Target, Regex),
    Check(Check),
}

/// What a pattern rule looks at.
#[derive(Debug)]
enum Target {
    /// Every header of this name (`subject` is `Header("Subject")`).
    Header(String),
    Body,
    Url,
}

/// Structural checks: facts about the whole message that a pattern cannot
/// express. Their thresholds are the constants above.
#[derive(Debug, Clone, Copy)]
enum Check {
    MissingDate,
    MissingMessageId,
    SubjectShouting,
    HtmlOnly,
    LinkTextMismatch,
    IpLink,
    ManyLinks,
    ManyExclamations,
    FakeReply,
}

/// The rules file as written, before validation.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RulesFile {
    #[serde(default)]
    checks: BTreeMap<String, i64>,
    #[serde(default)]
    rule: Vec<RuleEntry>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RuleEntry {
    name: String,
    target: String,
    pattern: String,
    weight: i64,
}

/// An HTML link: where it goes and what the reader sees.
#[derive(Debug)]
struct Anchor {
    href: String,
    text: String,
}

/// What the rules look at, gathered from a message once.
struct Content<'a> {
    headers: &'a [Header<'a>],
    raw: &'a [u8],
    subject: Cow<'a, str>,
    /// Text of the body parts, tags removed, white space runs made one space.
    body: String,
    /// Distinct http(s) links from the bodies.
    urls: BTreeSet<String>,
    anchors: Vec<Anchor>,
    has_plain: bool,
    has_html: bool,
}

impl SpamRules {
    /// The rules shipped in `etc/spam-rules.toml`, compiled on first use.
    /// The file is part of the build and a unit test proves it parses, so a
    /// failure here is a build defect and panics.
    pub fn builtin() -> &'static SpamRules {
        static BUILTIN: OnceLock<SpamRules> = OnceLock::new();
        BUILTIN.get_or_init(|| {
            SpamRules::from_toml(include_str!("../../etc/spam-rules.toml"))
                .unwrap_or_else(|e| panic!("built-in etc/spam-rules.toml is invalid: {e}"))
        })
    }

    /// Compiles an administrator's rules file. Errors name the rule or check
    /// and what is wrong with it, so the file can be fixed from the message.
    pub fn from_toml(text: &str) -> Result<SpamRules, String> {
        let file: RulesFile = toml::from_str(text).map_err(|e| e.to_string())?;
        let checks = file.checks.into_iter().map(|(name, weight)| {
            let check = Check::named(&name).map(Test::Check).ok_or_else(|| {
                let known: Vec<&str> = Check::ALL.iter().map(|c| c.name()).collect();
                format!("unknown check; the checks are {}", known.join(", "))
            });
            Rule::new(name, weight, check)
        });
        let patterns = file.rule.into_iter().map(|entry| {
            let test = entry.test();
            Rule::new(entry.name, entry.weight, test)
        });
        let rules = checks.chain(patterns).collect::<Result<Vec<_>, _>>()?;
        let mut names = HashSet::new();
        if let Some(twice) = rules.iter().find(|rule| !names.insert(rule.name.as_str())) {
            return Err(format!("rule `{}`: the name is used more than once", twice.name));
        }
        Ok(SpamRules { rules: rules.into_iter().filter(|rule| rule.weight > 0).collect() })
    }
}

impl Rule {
    /// Validates the weight and labels any error with the rule's name.
    fn new(name: String, weight: i64, test: Result<Test, String>) -> Result<Rule, String> {
        let error = |what: String| format!("rule `{name}`: {what}");
        let weight = u8::try_from(weight)
            .ok()
            .filter(|w| *w <= MAX_WEIGHT)
            .ok_or_else(|| error(format!("weight {weight} is not between 0 and {MAX_WEIGHT}")))?;
        let test = test.map_err(error)?;
        Ok(Rule { name, weight, test })
    }

    fn matches(&self, content: &Content<'_>) -> bool {
        match &self.test {
            Test::Check(check) => check.fires(content),
            Test::Pattern(Target::Header(name), regex) => content.header_texts(name).any(|text| regex.is_match(&text)),
            Test::Pattern(Target::Body, regex) => regex.is_match(&content.body),
            Test::Pattern(Target::Url, regex) => content.urls.iter().any(|url| regex.is_match(url)),
        }
    }
}

impl RuleEntry {
    fn test(&self) -> Result<Test, String> {
        let target = Target::parse(&self.target)?;
        if self.pattern.is_empty() {
            return Err("the pattern is empty (it would match every message)".into());
        }
        let regex =
            RegexBuilder::new(&self.pattern).case_insensitive(true).build().map_err(|e| format!("bad pattern: {e}"))?;
        Ok(Test::Pattern(target, regex))
    }
}

impl Target {
    fn parse(text: &str) -> Result<Target, String> {
        match text {
            "subject" => Ok(Target::Header("Subject".into())),
            "body" => Ok(Target::Body),
            "url" => Ok(Target::Url),
            _ => text
                .strip_prefix("header:")
                .filter(|name| !name.is_empty() && name.bytes().all(|b| b.is_ascii_graphic() && b != b':'))
                .map(|name| Target::Header(name.to_owned()))
                .ok_or_else(|| format!("unknown target `{text}`; use subject, body, url or header:NAME")),
        }
    }
}

impl Check {
    const ALL: [Check; 9] = [
        Check::MissingDate,
        Check::MissingMessageId,
        Check::SubjectShouting,
        Check::HtmlOnly,
        Check::LinkTextMismatch,
        Check::IpLink,
        Check::ManyLinks,
        Check::ManyExclamations,
        Check::FakeReply,
    ];

    /// The check's key in the `[checks]` table and its name in the log.
    fn name(self) -> &'static str {
        match self {
            Check::MissingDate => "missing-date",
            Check::MissingMessageId => "missing-message-id",
            Check::SubjectShouting => "subject-shouting",
            Check::HtmlOnly => "html-only",
            Check::LinkTextMismatch => "link-text-mismatch",
            Check::IpLink => "ip-link",
            Check::ManyLinks => "many-links",
            Check::ManyExclamations => "many-exclamations",
            Check::FakeReply => "fake-reply",
        }
    }

    fn named(name: &str) -> Option<Check> {
        Check::ALL.into_iter().find(|check| check.name() == name)
    }

    fn fires(self, content: &Content<'_>) -> bool {
        match self {
            Check::MissingDate => !content.headers_named("Date").any(|h| h.value().as_datetime().is_some()),
            Check::MissingMessageId => !content
                .headers_named("Message-ID")
                .any(|h| h.value().as_text().is_some_and(|id| !id.trim().is_empty())),
            Check::SubjectShouting => {
                let letters = content.subject.chars().filter(|c| c.is_alphabetic()).count();
                let upper = content.subject.chars().filter(|c| c.is_uppercase()).count();
                letters >= SHOUTING_MIN_LETTERS && upper * 4 >= letters * 3
            }
            Check::HtmlOnly => content.has_html && !content.has_plain,
            Check::LinkTextMismatch => content.anchors.iter().any(Anchor::is_disguised),
            Check::IpLink => content.urls.iter().filter_map(|url| host_of(url)).any(|host| is_ip(&host)),
            Check::ManyLinks => content.urls.len() > MANY_LINKS,
            Check::ManyExclamations => {
                let marks = content.subject.matches('!').count() + content.body.matches('!').count();
                let chars = content.subject.chars().count() + content.body.chars().count();
                marks >= MIN_EXCLAMATIONS && marks * CHARS_PER_EXCLAMATION >= chars
            }
            Check::FakeReply => {
                strip_prefix_ci(content.subject.trim_start(), "re:").is_some()
                    && content.headers_named("In-Reply-To").next().is_none()
                    && content.headers_named("References").next().is_none()
            }
        }
    }
}

/// Scores `message` against `rules`: the sum of the weights of the rules that
/// match, capped at 100. Never fails: any message, however malformed, gets
/// a score, since mail must flow whatever the scorer makes of it.
pub fn score(rules: &SpamRules, message: &Message<'_>) -> SpamScore {
    let content = Content::of(message);
    let mut result = SpamScore::default();
    for rule in rules.rules.iter().filter(|rule| rule.matches(&content)) {
        result.percent = result.percent.saturating_add(rule.weight).min(100);
        result.hits.push(rule.name.clone());
    }
    result
}

/// The score at or above which a message is spam for a sensitivity setting:
/// 1 (the default, fewest false positives) → 90% down to 5 → 50%, in steps
/// of 10. Values outside 1..=5 are clamped, so a bad setting still works.
pub fn threshold(sensitivity: u8) -> u8 {
    100 - 10 * sensitivity.clamp(1, 5)
}

/// Whether a scored message is spam at this sensitivity (see [`threshold`]).
pub fn is_spam(score: &SpamScore, sensitivity: u8) -> bool {
    score.percent >= threshold(sensitivity)
}

impl<'a> Content<'a> {
    fn of(message: &'a Message<'a>) -> Content<'a> {
        let headers = message.parts.first().map_or(&[][..], |root| root.headers.as_slice());
        let mut content = Content {
            headers,
            raw: message.raw_message(),
            subject: Cow::Borrowed(""),
            body: String::new(),
            urls: BTreeSet::new(),
            anchors: Vec::new(),
            has_plain: false,
            has_html: false,
        };
        content.subject = content.header_texts("Subject").next().unwrap_or_default();
        // A part can be listed as both the text and the HTML body.
        let body_parts: BTreeSet<usize> =
            message.text_body.iter().chain(&message.html_body).map(|&id| id as usize).collect();
        let mut budget = MAX_BODY_BYTES;
        for part in body_parts.into_iter().filter_map(|id| message.parts.get(id)) {
            match &part.body {
                PartType::Text(text) => {
                    content.has_plain = true;
                    let text = prefix(text, budget);
                    budget -= text.len();
                    content.add_text(text);
                }
                PartType::Html(html) => {
                    content.has_html = true;
                    let html = prefix(html, budget);
                    budget -= html.len();
                    content.add_html(html);
                }
                _ => {}
            }
        }
        content
    }

    fn add_text(&mut self, text: &str) {
        for word in text.split_whitespace() {
            if !self.body.is_empty() {
                self.body.push(' ');
            }
            self.body.push_str(word);
        }
        for url in BARE_URL.find_iter(text) {
            self.add_url(url.as_str().trim_end_matches(['.', ',', ';', ':', '!', '?']));
        }
    }

    fn add_html(&mut self, html: &str) {
        let (text, anchors) = strip_html(html);
        self.add_text(&text);
        for anchor in anchors {
            if strip_scheme(&anchor.href).is_some() {
                self.add_url(&anchor.href);
            }
            if self.anchors.len() < MAX_URLS {
                self.anchors.push(anchor);
            }
        }
    }

    fn add_url(&mut self, url: &str) {
        if self.urls.len() < MAX_URLS {
            self.urls.insert(url.to_owned());
        }
    }

    fn headers_named<'n>(&self, name: &'n str) -> impl Iterator<Item = &'a Header<'a>> + use<'a, 'n> {
        self.headers.iter().filter(move |header| header.name().eq_ignore_ascii_case(name))
    }

    /// The values of the headers called `name`, decoded where mail-parser
    /// understands them and raw otherwise.
    fn header_texts<'n>(&self, name: &'n str) -> impl Iterator<Item = Cow<'a, str>> + use<'a, 'n> {
        let raw = self.raw;
        self.headers_named(name).map(move |header| match header.value() {
            HeaderValue::Text(text) => Cow::Borrowed(text.as_ref()),
            HeaderValue::TextList(list) => Cow::Owned(list.join(", ")),
            HeaderValue::Address(address) => Cow::Owned(address_text(address)),
            _ => raw
                .get(header.offset_start() as usize..header.offset_end() as usize)
                .map_or(Cow::Borrowed(""), String::from_utf8_lossy),
        })
    }
}

/// An address header as written: `Name <user@host>, ...`, with group names
/// kept (`undisclosed-recipients: ;`).
fn address_text(address: &Address<'_>) -> String {
    fn one(addr: &Addr<'_>) -> String {
        match (addr.name(), addr.address()) {
            (Some(name), Some(address)) => format!("{name} <{address}>"),
            (None, Some(address)) => format!("<{address}>"),
            (name, None) => name.unwrap_or_default().to_owned(),
        }
    }
    let list = |addrs: &[Addr<'_>]| addrs.iter().map(one).collect::<Vec<_>>().join(", ");
    match address {
        Address::List(addrs) => list(addrs),
        Address::Group(groups) => groups
            .iter()
            .map(|group| format!("{}: {};", group.name.as_deref().unwrap_or_default(), list(&group.addresses)))
            .collect::<Vec<_>>()
            .join(" "),
    }
}

impl Anchor {
    /// The visible text is a web address on another host than the link's.
    fn is_disguised(&self) -> bool {
        let shown = self.text.trim();
        let shown_rest = strip_scheme(shown).or_else(|| strip_prefix_ci(shown, "www.").map(|_| shown));
        let Some(shown_rest) = shown_rest.filter(|_| !shown.contains(char::is_whitespace)) else {
            return false;
        };
        match (authority_host(shown_rest), host_of(&self.href)) {
            (Some(shown), Some(real)) => site(&shown) != site(&real),
            _ => false,
        }
    }
}

/// A tag, or the start of a comment. Comments are skipped by hand: matching
/// `<!--.*?-->` would rescan the rest of the text after every `<!--` that is
/// never closed, which takes quadratic time.
static TAG: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"<!--|<(/?)([a-zA-Z][a-zA-Z0-9]*)([^>]*)>").expect("the HTML tag pattern compiles"));
static HREF: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r#"(?i)\bhref\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s"'>]+))"#).expect("the href pattern compiles")
});
static ENTITY: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"&(?:#([0-9]{1,7})|#[xX]([0-9a-fA-F]{1,6})|([a-zA-Z]+));").expect("the entity pattern compiles")
});
static BARE_URL: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r#"(?i)\bhttps?://[^\s<>"'(){}]+"#).expect("the URL pattern compiles"));

/// The text a reader sees in an HTML body, and its links. A forgiving
/// scanner, not a parser: it only has to be right for what spam does.
fn strip_html(html: &str) -> (String, Vec<Anchor>) {
    let mut text = String::new();
    let mut anchors = Vec::new();
    let mut open: Option<Anchor> = None;
    let mut hidden: Option<&str> = None;
    let mut last = 0;
    while let Some(tag) = TAG.captures_at(html, last) {
        let whole = tag.get_match();
        if hidden.is_none() {
            let shown = decode_entities(&html[last..whole.start()]);
            text.push_str(&shown);
            if let Some(anchor) = &mut open {
                anchor.text.push_str(&shown);
            }
        }
        let Some(name) = tag.get(2).map(|name| name.as_str().to_ascii_lowercase()) else {
            // A comment runs to `-->`, or to the end when it is never closed.
            last = html[whole.end()..].find("-->").map_or(html.len(), |at| whole.end() + at + "-->".len());
            continue;
        };
        last = whole.end();
        let closing = tag.get(1).is_some_and(|slash| !slash.is_empty());
        if let Some(hidden_tag) = hidden {
            if closing && name == hidden_tag {
                hidden = None;
            }
            continue;
        }
        if !closing && let Some(&hidden_tag) = HIDDEN_TAGS.iter().find(|t| **t == name) {
            hidden = Some(hidden_tag);
            continue;
        }
        if name == "a" {
            anchors.extend(open.take());
            if !closing {
                open = tag
                    .get(3)
                    .and_then(|attributes| href(attributes.as_str()))
                    .map(|href| Anchor { href, text: String::new() });
            }
        }
        if !INLINE_TAGS.contains(&name.as_str()) {
            text.push(' ');
        }
    }
    if hidden.is_none() {
        text.push_str(&decode_entities(&html[last..]));
    }
    anchors.extend(open);
    (text, anchors)
}

fn href(attributes: &str) -> Option<String> {
    let captures = HREF.captures(attributes)?;
    let value = captures.get(1).or(captures.get(2)).or(captures.get(3))?;
    Some(decode_entities(value.as_str().trim()).into_owned())
}

/// Decodes numeric character references and the common named ones; spam
/// writes `&#70;REE` to hide words from filters.
fn decode_entities(text: &str) -> Cow<'_, str> {
    ENTITY.replace_all(text, |entity: &Captures<'_>| {
        let code = match (entity.get(1), entity.get(2)) {
            (Some(decimal), _) => decimal.as_str().parse().ok(),
            (None, Some(hex)) => u32::from_str_radix(hex.as_str(), 16).ok(),
            (None, None) => None,
        };
        let named = || match entity.get(3)?.as_str() {
            "amp" => Some('&'),
            "lt" => Some('<'),
            "gt" => Some('>'),
            "quot" => Some('"'),
            "apos" => Some('\''),
            "nbsp" => Some('\u{a0}'),
            _ => None,
        };
        code.and_then(char::from_u32)
            .or_else(named)
            .map_or_else(|| entity.get_match().as_str().to_owned(), String::from)
    })
}

/// The longest prefix of `text` of at most `max` bytes that ends on a
/// character boundary.
fn prefix(text: &str, max: usize) -> &str {
    &text[..text.floor_char_boundary(max)]
}

/// `s` without `prefix`, compared ignoring ASCII case.
fn strip_prefix_ci<'s>(s: &'s str, prefix: &str) -> Option<&'s str> {
    s.get(..prefix.len()).filter(|head| head.eq_ignore_ascii_case(prefix))?;
    s.get(prefix.len()..)
}

/// What follows `http://` or `https://`; `None` for other addresses.
fn strip_scheme(url: &str) -> Option<&str> {
    strip_prefix_ci(url, "http://").or_else(|| strip_prefix_ci(url, "https://"))
}

/// The lower-cased host of a web address.
fn host_of(url: &str) -> Option<String> {
    authority_host(strip_scheme(url)?)
}

/// The host at the start of `rest` (an address without its scheme), without
/// user name, port, brackets or trailing dot.
fn authority_host(rest: &str) -> Option<String> {
    let authority = rest.split(['/', '?', '#', '\\']).next().unwrap_or_default();
    let host_port = authority.rsplit('@').next().unwrap_or_default();
    let host = match host_port.strip_prefix('[') {
        Some(bracketed) => bracketed.split(']').next(),
        None => host_port.split(':').next(),
    };
    let host = host.unwrap_or_default().trim_end_matches('.').to_ascii_lowercase();
    (!host.is_empty()).then_some(host)
}

/// `www.example.com` and `example.com` are one site.
fn site(host: &str) -> &str {
    host.strip_prefix("www.").unwrap_or(host)
}

/// An IP address, or the single number browsers also accept for one
/// (`http://3232235777/`).
fn is_ip(host: &str) -> bool {
    host.parse::<IpAddr>().is_ok() || host.bytes().all(|b| b.is_ascii_digit())
}

#[cfg(test)]
mod tests {
    use super::*;
    use mail_parser::MessageParser;

    const DATE: &str = "Date: Tue, 14 May 2024 09:30:00 +0200";
    const MESSAGE_ID: &str = "Message-ID: <minutes-14@example.com>";

    fn parse(raw: &str) -> Message<'_> {
        MessageParser::default().parse(raw).expect("test message parses")
    }

    fn score_of(raw: &str) -> SpamScore {
        score(SpamRules::builtin(), &parse(raw))
    }

    /// A message with every header an ordinary mail program writes.
    fn complete(subject: &str, content_type: &str, body: &str) -> String {
        format!(
            "From: Tom Baker <tom@example.com>\nTo: anna@example.org\nSubject: {subject}\n{DATE}\n{MESSAGE_ID}\n\
             MIME-Version: 1.0\nContent-Type: {content_type}\n\n{body}\n"
        )
    }

    fn plain(subject: &str, body: &str) -> String {
        complete(subject, "text/plain; charset=utf-8", body)
    }

    #[test]
    fn builtin_rules_parse() {
        let rules = SpamRules::builtin();
        assert!(rules.rules.len() >= 20, "only {} rules", rules.rules.len());
        for check in Check::ALL {
            assert!(rules.rules.iter().any(|rule| rule.name == check.name()), "no weight for {}", check.name());
        }
    }

    #[test]
    fn obvious_spam_is_spam_at_the_least_sensitive_setting() {
        let raw = "From: Prize Desk <desk@198.51.100.4>\nTo: you@example.org\n\
                   Subject: ACT NOW TO CLAIM YOUR PRIZE\nContent-Type: text/html\n\n\
                   <html><body><p>Dear friend, you have won! Act now, the offer expires tonight.</p>\
                   <p><a href=\"http://192.0.2.7/login.php\">https://www.bank.example/</a></p></body></html>\n";
        let result = score_of(raw);
        assert!(result.percent >= threshold(1), "{result:?}");
        assert!(is_spam(&result, 1));
        for expected in ["subject-shouting", "body-act-now", "ip-link", "link-text-mismatch", "missing-date"] {
            assert!(result.hits.iter().any(|hit| hit == expected), "{expected} missing from {:?}", result.hits);
        }
    }

    #[test]
    fn business_mail_is_not_spam_at_the_most_sensitive_setting() {
        let raw = complete(
            "Minutes of Tuesday's project meeting",
            "multipart/alternative; boundary=\"b1\"",
            "--b1\nContent-Type: text/plain; charset=utf-8\n\n\
             Hi Anna,\n\nthe minutes are at https://docs.example.com/minutes/2024-05-14 - please\n\
             check the action items before Friday. Thanks!\n\nTom\n\
             --b1\nContent-Type: text/html; charset=utf-8\n\n\
             <p>Hi Anna,</p><p>the minutes are at <a href=\"https://docs.example.com/minutes/2024-05-14\">\
             https://docs.example.com/minutes/2024-05-14</a> &ndash; please check the action items before \
             Friday. Thanks!</p><p>Tom</p>\n--b1--",
        );
        let result = score_of(&raw);
        assert!(result.percent < threshold(5), "{result:?}");
        assert!(result.hits.is_empty(), "{result:?}");
        assert!(!is_spam(&result, 5));
    }

    #[test]
    fn each_check_fires_on_a_message_made_for_it() {
        let links: String = (0..30).map(|i| format!("https://site{i}.example/\n")).collect();
        let cases = [
            ("missing-date", plain("Hello", "Hi.").replace(&format!("{DATE}\n"), "")),
            ("missing-message-id", plain("Hello", "Hi.").replace(&format!("{MESSAGE_ID}\n"), "")),
            ("subject-shouting", plain("QUARTERLY NUMBERS ARE IN", "Hi.")),
            ("html-only", complete("Hello", "text/html", "<p>Hi.</p>")),
            (
                "link-text-mismatch",
                complete("Hello", "text/html", "<a href='https://elsewhere.example/x'>https://www.bank.example/</a>"),
            ),
            ("ip-link", plain("Hello", "See http://192.0.2.1/page.")),
            ("ip-link", plain("Hello", "See http://[2001:db8::1]/page.")),
            ("ip-link", plain("Hello", "See http://3221225985/page.")),
            ("many-links", plain("Hello", &links)),
            ("many-exclamations", plain("Hello", "Great news! Really! Yes! Now! Wow!")),
            ("fake-reply", plain("Re: your invoice", "Hi.")),
        ];
        for (check, raw) in cases {
            let result = score_of(&raw);
            assert!(result.hits.iter().any(|hit| hit == check), "{check} did not fire: {result:?}\n{raw}");
        }
    }

    #[test]
    fn no_check_fires_on_an_ordinary_message() {
        let raw = plain("Re: lunch", "Fine by me! See https://www.cafe.example/menu, or www.cafe.example.")
            .replace("Subject:", "In-Reply-To: <lunch-1@example.org>\nSubject:");
        let html = complete(
            "Hello",
            "multipart/alternative; boundary=b",
            "--b\nContent-Type: text/plain\n\nSee www.shop.example\n--b\nContent-Type: text/html\n\n\
             <a href=\"https://shop.example/\">www.shop.example</a> <a href=\"https://shop.example/a\">our shop</a>\n--b--",
        );
        for raw in [raw, html] {
            let result = score_of(&raw);
            let fired: Vec<_> =
                Check::ALL.iter().filter(|check| result.hits.iter().any(|h| h == check.name())).collect();
            assert!(fired.is_empty(), "{fired:?} fired on\n{raw}");
        }
    }

    /// Guards against a pattern that compiles but can never match: every
    /// pattern rule of the built-in file must match its example here.
    #[test]
    fn every_builtin_pattern_matches_its_example() {
        let examples = [
            ("subject-urgency", "Final notice: invoice 4411"),
            ("subject-prize", "You've won a prize"),
            ("subject-money-amount", "Get $500 today"),
            ("subject-discount", "50% off everything"),
            ("subject-exclamation-run", "Hello!!"),
            ("subject-account-alert", "Your account will be suspended"),
            ("subject-spaced-letters", "F R E E money"),
            ("to-undisclosed", "undisclosed-recipients: ;"),
            ("from-numbered-sender", "Bob <bob1234567@example.com>"),
            ("mailer-bulk-tool", "SuperBulk Mailer 3"),
            ("body-act-now", "Order today and save"),
            ("body-prize-claim", "Claim your reward here"),
            ("body-guarantee", "It is 100% guaranteed and risk-free"),
            ("body-easy-income", "Earn $500 a day easily"),
            ("body-account-threat", "Your mailbox will be deactivated"),
            ("body-verify-details", "Please confirm your billing information"),
            ("body-advance-fee", "I write to you as the next of kin"),
            ("body-extortion", "send it to my bitcoin wallet"),
            ("body-pharmacy", "buy without a prescription"),
            ("body-weight-loss", "lose 20 pounds"),
            ("body-miracle-claim", "the secret trick that works"),
            ("body-gambling", "get 50 free spins"),
            ("body-loans-debt", "debt relief now"),
            ("body-payment-pressure", "buy some gift cards"),
            ("body-not-spam-claim", "This email is not spam"),
            ("body-generic-greeting", "Dear valued customer,"),
            ("body-click-here", "click here"),
            ("url-userinfo", "http://bank.example@elsewhere.example/"),
            ("url-punycode-host", "https://www.xn--e1afmkfd.example/"),
            ("url-cheap-tld", "http://deals.xyz/"),
            ("url-login-page", "https://elsewhere.example/secure/account-update.php?id=1"),
            ("url-program-download", "http://x.example/setup.exe"),
            ("url-high-port", "http://x.example:8080/"),
        ];
        for rule in &SpamRules::builtin().rules {
            let Test::Pattern(_, regex) = &rule.test else { continue };
            let example = examples.iter().find(|(name, _)| *name == rule.name);
            let Some((_, example)) = example else { panic!("no example for rule {}", rule.name) };
            assert!(regex.is_match(example), "{} does not match {example:?}", rule.name);
        }
    }

    #[test]
    fn header_rules_see_decoded_values() {
        let raw = plain("Hello", "Hi.").replace(
            "From: Tom Baker <tom@example.com>\nTo: anna@example.org",
            "From: =?utf-8?q?Offers?= <deals1234567@example.net>\nTo: undisclosed-recipients:;\nX-Mailer: MassMail 2",
        );
        let result = score_of(&raw);
        for expected in ["from-numbered-sender", "to-undisclosed", "mailer-bulk-tool"] {
            assert!(result.hits.iter().any(|hit| hit == expected), "{expected} missing from {result:?}");
        }
    }

    #[test]
    fn html_is_reduced_to_visible_text_and_links() {
        let (text, anchors) = strip_html(
            "<p>FR<b>EE</b> &amp; <i>&#70;ast</i> de<script>act now</script>liv<!-- act now -->ery<style>p{}</style>\
             </p><a href=\"http://x.example/?a=1&amp;b=2\">go <b>here</b></a><br>end<!-- never closed <b>act now</b>",
        );
        let words: Vec<_> = text.split_whitespace().collect();
        assert_eq!(words, ["FREE", "&", "Fast", "delivery", "go", "here", "end"]);
        assert_eq!(anchors.len(), 1);
        assert_eq!(anchors[0].href, "http://x.example/?a=1&b=2");
        assert_eq!(anchors[0].text, "go here");
    }

    #[test]
    fn huge_messages_are_examined_only_in_part() {
        let body: String = (0..40_000).map(|i| format!("http://h{i}.example/ act\n")).collect();
        let raw = plain("Hello", &body);
        let message = parse(&raw);
        let content = Content::of(&message);
        assert!(content.urls.len() <= MAX_URLS);
        assert!(content.body.len() <= MAX_BODY_BYTES);
        assert!(score(SpamRules::builtin(), &message).hits.iter().any(|hit| hit == "many-links"));
    }

    fn one_rule(target: &str, pattern: &str, weight: i64) -> String {
        format!("[[rule]]\nname = \"my-rule\"\ntarget = \"{target}\"\npattern = '{pattern}'\nweight = {weight}\n")
    }

    #[test]
    fn errors_name_the_rule_and_the_problem() {
        let cases = [
            (one_rule("body", "(unclosed", 5), "bad pattern"),
            (one_rule("footer", "x", 5), "unknown target `footer`"),
            (one_rule("header:", "x", 5), "unknown target `header:`"),
            (one_rule("body", "", 5), "pattern is empty"),
            (one_rule("body", "x", -5), "weight -5"),
            (one_rule("body", "x", 101), "weight 101"),
            (format!("{}{}", one_rule("body", "x", 5), one_rule("url", "y", 5)), "more than once"),
        ];
        for (text, problem) in cases {
            let error = SpamRules::from_toml(&text).expect_err(&text);
            assert!(error.contains("my-rule") && error.contains(problem), "{error}");
        }
        let error = SpamRules::from_toml("[checks]\nno-such-check = 5\n").expect_err("unknown check");
        assert!(error.contains("no-such-check") && error.contains("unknown check"), "{error}");
        let error = SpamRules::from_toml("[checks]\nhtml-only = -1\n").expect_err("negative check weight");
        assert!(error.contains("html-only") && error.contains("weight -1"), "{error}");
    }

    #[test]
    fn own_rules_match_headers_and_zero_weights_are_off() {
        let text = format!(
            "[checks]\nmissing-date = 0\n{}{}",
            one_rule("header:x-campaign", "^spring", 40),
            one_rule("url", "tracker", 0).replace("my-rule", "off-rule"),
        );
        let rules = SpamRules::from_toml(&text).expect("valid rules");
        let raw = "X-Campaign: Spring sale\nSubject: hi\n\nhttps://tracker.example/\n";
        assert_eq!(score(&rules, &parse(raw)), SpamScore { percent: 40, hits: vec!["my-rule".into()] });
    }

    #[test]
    fn thresholds_fall_with_sensitivity_and_clamp() {
        assert_eq!(threshold(1), 90);
        assert_eq!(threshold(5), 50);
        assert_eq!(threshold(0), threshold(1));
        assert_eq!(threshold(255), threshold(5));
        for s in 1..5 {
            assert!(threshold(s + 1) < threshold(s), "sensitivity {s}");
        }
        let at = |percent| SpamScore { percent, hits: Vec::new() };
        assert!(is_spam(&at(70), 3));
        assert!(!is_spam(&at(69), 3));
    }
}
