#!/usr/bin/env python3
"""Scan-engine benchmark: mxguard's built-in ClamAV-format signature engine
against ClamAV's clamscan, with one generated database on one generated
corpus.

The database (bench.ndb: body signatures in ClamAV's pattern language,
bench.hdb: MD5 hashes) and the corpus (text, binary, PE-looking, HTML and
zip files) come from a fixed seed and are cached in the work directory.
Detections are planted so that every infected file matches exactly one
signature: both tools must then name the same signature for the same
files. Each tool is timed on the corpus and, for its signature load time,
on one tiny clean file with the same database.

The table goes to stdout and bench/results/scan-latest.md (git-ignored).
"""

import argparse
import hashlib
import io
import json
import os
import random
import re
import shutil
import string
import subprocess
import sys
import tempfile
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
RESULTS = REPO / "bench" / "results"
MXGUARD = REPO / "target" / "release" / "mxguard"
CLAMSCAN = "clamscan"
# Bump when generation changes, so cached work directories are rebuilt.
FORMAT = 3
SEED = 20241124
NDB_SIGS = 50_000
HDB_SIGS = 100_000
MB = 1_000_000
# clamscan skips files and archive contents past its default limits.
CLAMSCAN_LIMITS = ["--max-filesize=4000M", "--max-scansize=4000M"]


# --------------------------------------------------------------------------
# Signatures: a pattern is a list of tokens that give both its hex form and
# byte strings that match it, so that every planted detection really
# exercises the wildcard.
#
#   ("lit", bytes)        literal bytes
#   ("any", n)            n x "??"
#   ("nib", high, value)  "v?" (high nibble) or "?v"
#   ("alt", [bytes])      "(aa|bbcc)"
#   ("gap", lo, hi)       "*", "{n}", "{-m}", "{n-}", "{n-m}" (hi None: unbounded)


def pattern_hex(tokens: list) -> str:
    """The ClamAV hex form of a token list."""
    out = []
    for token in tokens:
        match token:
            case ("lit", data):
                out.append(data.hex())
            case ("any", n):
                out.append("??" * n)
            case ("nib", high, value):
                out.append(f"{value:x}?" if high else f"?{value:x}")
            case ("alt", options):
                out.append("(" + "|".join(o.hex() for o in options) + ")")
            case ("gap", 0, None):
                out.append("*")
            case ("gap", lo, None):
                out.append(f"{{{lo}-}}")
            case ("gap", 0, hi):
                out.append(f"{{-{hi}}}")
            case ("gap", lo, hi) if lo == hi:
                out.append(f"{{{lo}}}")
            case ("gap", lo, hi):
                out.append(f"{{{lo}-{hi}}}")
    return "".join(out)


def instance(tokens: list, rng: random.Random) -> bytes:
    """Bytes matching the pattern, wildcards filled at random."""
    out = bytearray()
    for token in tokens:
        match token:
            case ("lit", data):
                out += data
            case ("any", n):
                out += rng.randbytes(n)
            case ("nib", high, value):
                other = rng.randrange(16)
                out.append(value << 4 | other if high else other << 4 | value)
            case ("alt", options):
                out += rng.choice(options)
            case ("gap", lo, hi):
                out += rng.randbytes(rng.randint(lo, lo + 300 if hi is None else hi))
    return bytes(out)


def fixed_len(tokens: list) -> int | None:
    """Length of every match, None when it varies (only such patterns get
    an offset, so that planting can place them exactly)."""
    total = 0
    for token in tokens:
        match token:
            case ("lit", data):
                total += len(data)
            case ("any", n):
                total += n
            case ("nib", _, _):
                total += 1
            case ("alt", options) if len({len(o) for o in options}) == 1:
                total += len(options[0])
            case _:
                return None
    return total


def literal(rng: random.Random, lo: int, hi: int) -> tuple:
    return ("lit", rng.randbytes(rng.randint(lo, hi)))


def make_tokens(kind: str, rng: random.Random) -> list:
    """A pattern of one kind. Every part between gaps keeps at least four
    literal bytes so that no signature matches random data by accident."""
    if kind == "plain":
        return [literal(rng, 8, 40)]
    if kind == "ascii":
        letters = string.ascii_lowercase if rng.random() < 0.5 else string.ascii_letters
        text = "".join(rng.choices(letters + string.digits + "._-/", k=rng.randint(12, 32)))
        return [("lit", text.encode())]
    if kind == "wildcard":
        middle = ("any", rng.randint(1, 6)) if rng.random() < 0.7 else ("nib", rng.random() < 0.5, rng.randrange(16))
        tokens = [literal(rng, 4, 12), middle, literal(rng, 4, 12)]
        if rng.random() < 0.3:
            tokens += [("any", rng.randint(1, 3)), literal(rng, 4, 8)]
        return tokens
    if kind == "alternatives":
        form = rng.random()
        if form < 0.5:
            options = rng.sample(range(256), rng.randint(2, 4))
            alt = ("alt", [bytes([b]) for b in options])
        elif form < 0.85:
            width = rng.randint(2, 4)
            alt = ("alt", [rng.randbytes(width) for _ in range(rng.randint(2, 3))])
        else:
            alt = ("alt", [rng.randbytes(1), rng.randbytes(rng.randint(2, 3))])
        return [literal(rng, 4, 10), alt, literal(rng, 4, 10)]
    if kind == "star":
        tokens = [literal(rng, 6, 16), ("gap", 0, None), literal(rng, 6, 16)]
        if rng.random() < 0.3:
            tokens += [("gap", 0, None), literal(rng, 6, 12)]
        return tokens
    lo = rng.randint(0, 32)
    gap = rng.choice([("gap", lo, lo + rng.randint(1, 200)), ("gap", 0, rng.randint(1, 64)), ("gap", lo, None), ("gap", lo + 1, lo + 1)])
    return [literal(rng, 6, 12), gap, literal(rng, 6, 12)]


KINDS = {"plain": 45, "ascii": 10, "wildcard": 15, "alternatives": 10, "star": 10, "range": 10}
PLATFORMS = ["Win", "Unix", "Doc", "Html", "Js", "Pdf", "Xls", "Andr", "Osx", "Email"]
CATEGORIES = ["Trojan", "Worm", "Downloader", "Exploit", "Dropper", "Malware", "Packed", "Ransomware"]


@dataclass
class Sig:
    name: str
    kind: str
    tokens: list
    # ("*",), ("at", n, shift) for "n" / "n,shift", ("eof", n) for "EOF-n".
    offset: tuple

    def line(self) -> str:
        match self.offset:
            case ("*",):
                where = "*"
            case ("at", n, 0):
                where = str(n)
            case ("at", n, shift):
                where = f"{n},{shift}"
            case ("eof", n):
                where = f"EOF-{n}"
        return f"{self.name}:0:{where}:{pattern_hex(self.tokens)}"


def name(rng: random.Random, serial: int) -> str:
    """ClamAV-style names, unique by their serial."""
    family = "".join(rng.choices(string.ascii_lowercase, k=rng.randint(4, 9))).capitalize()
    return f"{rng.choice(PLATFORMS)}.{rng.choice(CATEGORIES)}.{family}-{serial}"


def make_offset(tokens: list, rng: random.Random) -> tuple:
    """Most signatures apply anywhere; some fixed-length ones at the
    start, at a position, in a window or counted from the end."""
    length = fixed_len(tokens)
    if length is None or rng.random() >= 0.15:
        return ("*",)
    form = rng.randrange(4)
    if form == 0:
        return ("at", 0, 0)
    if form == 1:
        return ("at", rng.randint(1, 2048), 0)
    if form == 2:
        return ("at", rng.randint(0, 4096), rng.randint(1, 512))
    return ("eof", length + rng.randint(0, 512))


def make_ndb(rng: random.Random) -> list[Sig]:
    """The body signatures, kinds mixed by their KINDS weight."""
    kinds = rng.choices(list(KINDS), weights=list(KINDS.values()), k=NDB_SIGS)
    sigs = []
    for serial, kind in enumerate(kinds, start=1_000_000):
        tokens = make_tokens(kind, rng)
        sigs.append(Sig(name(rng, serial), kind, tokens, make_offset(tokens, rng)))
    return sigs


# --------------------------------------------------------------------------
# Corpus


class Content:
    """Generators of the corpus's file kinds."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        syllables = ["ka", "lo", "mi", "ne", "ru", "sta", "tor", "ven", "el", "qua", "dri", "mon", "pe", "sil", "an"]
        vocabulary = ["".join(rng.choices(syllables, k=rng.randint(1, 4))) for _ in range(4000)]
        weights = [1 / (rank + 1) for rank in range(len(vocabulary))]
        words = rng.choices(vocabulary, weights=weights, k=400_000)
        lines = (" ".join(words[i : i + 12]).capitalize() + ".\n" for i in range(0, len(words), 12))
        self.pool = "".join(lines).encode()

    def text(self, size: int) -> bytes:
        pool = self.pool * (size // len(self.pool) + 2)
        start = self.rng.randrange(len(self.pool))
        return pool[start : start + size]

    def binary(self, size: int) -> bytes:
        """Mostly random, with zero runs and repeated records as in real
        binaries."""
        out = bytearray()
        while len(out) < size:
            roll = self.rng.random()
            if roll < 0.7:
                out += self.rng.randbytes(4096)
            elif roll < 0.85:
                out += bytes(4096)
            else:
                out += self.rng.randbytes(16) * 256
        return bytes(out[:size])

    def html(self, size: int) -> bytes:
        """Paragraphs of text with links, as in mail."""
        parts = [b"<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>Report</title></head>\n<body>\n"]
        total = len(parts[0])
        while total < size:
            words = self.text(self.rng.randint(200, 800)).split()
            link = b'<a href="https://%s.example/%s">%s</a>' % (words[0], words[1], words[2])
            part = b"<p>" + b" ".join(words) + b" " + link + b"</p>\n"
            parts.append(part)
            total += len(part)
        return (b"".join(parts)[: max(size - 15, 0)] + b"</body></html>\n")[:size]

    def pe(self, size: int) -> bytes:
        """A DOS header, a PE32 header and three sections: enough to be
        taken for an executable."""
        size = max(size, 0x800)
        stub = b"\x0e\x1f\xba\x0e\x00\xb4\x09\xcd\x21\xb8\x01\x4c\xcd\x21This program cannot be run in DOS mode.\r\r\n$"
        dos = (b"MZ\x90\x00" + bytes(0x38) + (0x80).to_bytes(4, "little") + stub).ljust(0x80, b"\0")
        raw = (size - 0x400) // 0x200 * 0x200
        lengths = [raw // 2 // 0x200 * 0x200, raw // 4 // 0x200 * 0x200]
        lengths.append(raw - sum(lengths))
        addresses = [0x1000]
        for length in lengths:
            addresses.append(addresses[-1] + (length + 0xFFF) // 0x1000 * 0x1000)

        def packed(fields: list[tuple[int, int]]) -> bytes:
            return b"".join(value.to_bytes(width, "little") for value, width in fields)

        coff = b"PE\0\0" + packed([(0x14C, 2), (3, 2), (0x5F000000, 4), (0, 4), (0, 4), (0xE0, 2), (0x102, 2)])
        optional = packed(
            [(0x10B, 2), (14, 1), (0, 1), (lengths[0], 4), (raw - lengths[0], 4), (0, 4), (0x1000, 4), (0x1000, 4)]
            + [(addresses[1], 4), (0x400000, 4), (0x1000, 4), (0x200, 4), (6, 2), (0, 2), (0, 2), (0, 2), (6, 2)]
            + [(0, 2), (0, 4), (addresses[3], 4), (0x400, 4), (0, 4), (2, 2), (0x8140, 2), (0x100000, 4)]
            + [(0x1000, 4), (0x100000, 4), (0x1000, 4), (0, 4), (16, 4)]
        ).ljust(0xE0, b"\0")
        sections, pointer = b"", 0x400
        for label, length, address in zip([b".text", b".rdata", b".data"], lengths, addresses):
            fields = [(length, 4), (address, 4), (length, 4), (pointer, 4), (0, 4), (0, 4), (0, 2), (0, 2), (0x60000020, 4)]
            sections += label.ljust(8, b"\0") + packed(fields)
            pointer += length
        head = (dos + coff + optional + sections).ljust(0x400, b"\0")
        body = bytearray(self.binary(size - 0x400))
        for word in [b"KERNEL32.dll", b"GetProcAddress", b"LoadLibraryA", b"VirtualAlloc", b"user32.dll"]:
            at = self.rng.randrange(len(body) - len(word))
            body[at : at + len(word)] = word
        return head + bytes(body)

    def zip(self, size: int, planted: bytes | None) -> tuple[bytes, bytes]:
        """A zip of text (deflated) and binary (stored or deflated)
        members; `planted` goes into one member. Returns the zip and its
        first member."""
        count = self.rng.randint(1, 5)
        members = []
        for i in range(count):
            length = max(size // count, 64)
            if self.rng.random() < 0.6:
                members.append((f"doc{i}.txt", self.text(length), zipfile.ZIP_DEFLATED))
            else:
                method = self.rng.choice([zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED])
                members.append((f"data{i}.bin", self.binary(length), method))
        if planted is not None:
            i = self.rng.randrange(count)
            member, data, method = members[i]
            members[i] = (member, self.overwrite(data, planted, 0), method)
        out = io.BytesIO()
        with zipfile.ZipFile(out, "w") as archive:
            for member, data, method in members:
                archive.writestr(zipfile.ZipInfo(member, date_time=(2024, 1, 1, 0, 0, 0)), data, compress_type=method)
        return out.getvalue(), members[0][1]

    def paragraph(self, html: bytes, planted: bytes) -> bytes:
        """`html` with `planted` as a paragraph of its own after some line."""
        at = html.find(b"\n", self.rng.randrange(len(html) // 2, len(html))) + 1 or len(html)
        return html[:at] + b"<p>" + planted + b"</p>\n" + html[at:]

    def overwrite(self, data: bytes, planted: bytes, lowest: int) -> bytes:
        """`data` with `planted` over it at a random place from `lowest`."""
        if len(data) < lowest + len(planted):
            data = data + self.rng.randbytes(lowest + len(planted) - len(data))
        at = self.rng.randint(lowest, len(data) - len(planted))
        return data[:at] + planted + data[at + len(planted) :]


EXTENSIONS = {"text": "txt", "binary": "bin", "pe": "exe", "html": "html", "zip": "zip"}


def file_plan(rng: random.Random, corpus_bytes: int) -> list[tuple[str, int]]:
    """(kind, size) of every file: a few large ones, the rest log-uniform
    from 512 bytes to 2 MB."""
    plan = [("binary", 16 * MB), ("text", 12 * MB), ("pe", 12 * MB), ("binary", 8 * MB)]
    total = sum(size for _, size in plan)
    while total < corpus_bytes:
        kind = rng.choices(list(EXTENSIONS), weights=[30, 25, 20, 15, 10])[0]
        size = int(512 * 4096 ** rng.random())
        plan.append((kind, size))
        total += size
    rng.shuffle(plan)
    return plan


def placed(sig: Sig, data: bytes, rng: random.Random) -> bytes:
    """`data` with a match of `sig` where its offset puts it."""
    match_bytes = instance(sig.tokens, rng)
    match sig.offset:
        case ("eof", n):
            at = len(data) - n
        case ("at", n, shift):
            at = n + rng.randint(0, shift)
    return data[:at] + match_bytes + data[at + len(match_bytes) :]


def reach(sig: Sig) -> int:
    """The smallest file a signature with an offset can be planted in."""
    match sig.offset:
        case ("eof", n):
            return n
        case ("at", n, shift):
            return n + shift + (fixed_len(sig.tokens) or 0)
    return 0


def html_safe(sig: Sig) -> bool:
    """Whether clamscan's HTML normalisation leaves a match intact."""
    return sig.kind == "ascii" and sig.tokens[0][1] == sig.tokens[0][1].lower()


def offset_form(offset: tuple) -> str:
    """Which of the offset forms a signature has, to plant each form."""
    match offset:
        case ("at", 0, 0):
            return "at0"
        case ("at", _, 0):
            return "at"
        case ("at", _, _):
            return "window"
        case ("eof", _):
            return "eof"
    return "*"


def generate(workdir: Path, corpus_mb: int) -> None:
    """Write db/, corpus/, tiny/ and expected.json into `workdir`."""
    rng = random.Random(SEED)
    shutil.rmtree(workdir, ignore_errors=True)
    db, corpus, tiny = workdir / "db", workdir / "corpus", workdir / "tiny"
    for d in (db, corpus, tiny):
        d.mkdir(parents=True)
    (tiny / "clean.txt").write_text("nothing to see here\n")
    sigs = make_ndb(rng)
    content = Content(rng)
    plan = file_plan(rng, corpus_mb * MB)

    # Planting: every signature kind anywhere, and every offset form, into
    # files that can hold it; offsets only in text and binary files, whose
    # start and end are free. clamscan matches HTML only once normalised
    # (lower-cased, whitespace folded; ClamAV's HTMLSKIPRAW) and never
    # checks the hash of an HTML file, so HTML gets only lower-case text
    # signatures, which normalisation leaves alone, and no hash entries.
    hosts = list(range(len(plan)))
    rng.shuffle(hosts)
    html_hosts = [i for i in hosts if plan[i][0] == "html"]
    hosts = [i for i in hosts if plan[i][0] != "html"]
    anywhere = [s for s in sigs if s.offset == ("*",)]
    planted: dict[int, Sig] = {}
    per_kind = max(5, len(plan) // 25)
    for kind in KINDS:
        for sig in [s for s in anywhere if s.kind == kind and not html_safe(s)][:per_kind]:
            planted[hosts.pop()] = sig
    for sig in [s for s in anywhere if html_safe(s)][: len(html_hosts) // 3]:
        planted[html_hosts.pop()] = sig
    for form in ["at0", "at", "window", "eof"]:
        for sig in [s for s in sigs if offset_form(s.offset) == form][: max(5, len(plan) // 60)]:
            host = next(i for i in reversed(hosts) if plan[i][0] in ("text", "binary") and plan[i][1] >= reach(sig))
            hosts.remove(host)
            planted[host] = sig
    hash_hosts = set(hosts[: len(plan) // 20])
    inner_hash_hosts = set(sorted(i for i in hosts[len(plan) // 20 :] if plan[i][0] == "zip")[:8])

    expected: dict[str, str] = {}
    hashed: list[tuple[bytes, str]] = []
    for index, (kind, size) in enumerate(plan):
        sig = planted.get(index)
        anywhere_bytes = instance(sig.tokens, rng) if sig and sig.offset == ("*",) else None
        first_member = None
        if kind == "zip":
            data, first_member = content.zip(size, anywhere_bytes)
        else:
            data = getattr(content, kind)(size)
            if kind == "html" and anywhere_bytes is not None:
                data = content.paragraph(data, anywhere_bytes)
            elif anywhere_bytes is not None:
                data = content.overwrite(data, anywhere_bytes, 0x400 if kind == "pe" else 0)
            elif sig is not None:
                data = placed(sig, data, rng)
        path = Path(kind) / f"{index:05d}.{EXTENSIONS[kind]}"
        (corpus / kind).mkdir(exist_ok=True)
        (corpus / path).write_bytes(data)
        if sig is not None:
            expected[str(path)] = sig.name
        elif index in hash_hosts or index in inner_hash_hosts:
            hashed.append((data if index in hash_hosts else first_member, name(rng, 3_000_000 + len(hashed))))
            expected[str(path)] = hashed[-1][1]

    with open(db / "bench.ndb", "w") as out:
        out.writelines(sig.line() + "\n" for sig in sigs)
    with open(db / "bench.hdb", "w") as out:
        for data, label in hashed:
            out.write(f"{hashlib.md5(data).hexdigest()}:{len(data)}:{label}\n")
        for serial in range(2_000_000, 2_000_000 + HDB_SIGS):
            out.write(f"{rng.randbytes(16).hex()}:{rng.randint(100, 5_000_000)}:{name(rng, serial)}\n")
    (workdir / "expected.json").write_text(json.dumps(expected, indent=1, sort_keys=True))


# --------------------------------------------------------------------------
# Running the tools


@dataclass
class Run:
    seconds: float
    peak_kb: int
    output: str
    errors: str
    code: int


def run(argv: list[str]) -> Run:
    """Run a tool to completion. wait4 gives this child's own peak RSS
    (the figure /usr/bin/time -v reports), where RUSAGE_CHILDREN would
    keep the largest of all runs so far."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        started = time.monotonic()
        proc = subprocess.Popen(argv, stdout=out, stderr=err, cwd=REPO)
        _, status, usage = os.wait4(proc.pid, 0)
        seconds = time.monotonic() - started
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        text = out.read().decode(errors="replace")
        return Run(seconds, usage.ru_maxrss, text, err.read().decode(errors="replace"), proc.returncode)


def command(tool: str, db: Path, target: Path, summary: bool) -> list[str]:
    """The tool's command line; `summary` keeps clamscan's summary, whose
    signature count checks the load (mxguard always prints one)."""
    if tool == "mxguard":
        return [str(MXGUARD), "scan", "--defs", str(db), str(target)]
    quiet = [] if summary else ["--no-summary"]
    return [CLAMSCAN, *quiet, "-r", "-d", str(db), *CLAMSCAN_LIMITS, str(target)]


def verdicts(output: str, root: Path) -> dict[str, str | None]:
    """Per file (relative to `root`): the signature name, None when clean,
    or "ERROR ..." ; clamscan's ".UNOFFICIAL" suffix for signatures outside
    signed databases is dropped."""
    found: dict[str, str | None] = {}
    for line in output.splitlines():
        path, _, verdict = line.partition(": ")
        if verdict == "OK":
            name_found = None
        elif verdict.endswith(" FOUND"):
            name_found = verdict.removesuffix(" FOUND").removesuffix(".UNOFFICIAL")
        elif verdict.endswith(" ERROR"):
            name_found = "ERROR " + verdict.removesuffix(" ERROR")
        else:
            continue
        found[os.path.relpath(path, root)] = name_found
    return found


@dataclass
class Result:
    load: float
    total: float
    peak_kb: int
    verdicts: dict[str, str | None]


def measure(tool: str, workdir: Path, signatures: int) -> Result:
    """One load run and one corpus run; fail loudly if the tool did not
    load every signature."""
    db, corpus = workdir / "db", workdir / "corpus"
    load = run(command(tool, db, workdir / "tiny", summary=True))
    loaded = re.search(r"^Known viruses: (\d+)$", load.output, re.M)
    if load.code != 0 or not loaded or int(loaded.group(1)) != signatures:
        sys.exit(f"{tool} did not load {signatures} signatures (exit {load.code}):\n{load.output}{load.errors[-3000:]}")
    full = run(command(tool, db, corpus, summary=False))
    if full.code not in (0, 1):
        print(f"{tool} exited {full.code}: {full.errors[-2000:]}", file=sys.stderr)
    return Result(load.seconds, full.seconds, full.peak_kb, verdicts(full.output, corpus))


def best(a: Result, b: Result) -> Result:
    """Fastest times and highest peak of two rounds."""
    return Result(min(a.load, b.load), min(a.total, b.total), max(a.peak_kb, b.peak_kb), b.verdicts)


# --------------------------------------------------------------------------
# Report


def signature_lines(workdir: Path, names: set[str]) -> dict[str, str]:
    """The database lines of `names`, to show what a mismatch is about."""
    lines = {}
    for file in ("bench.ndb", "bench.hdb"):
        for line in (workdir / "db" / file).read_text().splitlines():
            label = line.split(":")[0 if file.endswith("ndb") else 2]
            if label in names:
                lines[label] = f"{file}: {line}"
    return lines


def report(workdir: Path, results: dict[str, Result], repeat: int, load_average: float) -> tuple[str, bool]:
    """The markdown report, and whether detections agree everywhere. The
    machine's load average at the start says whether others competed."""
    corpus = workdir / "corpus"
    files = sorted(str(p.relative_to(corpus)) for p in corpus.rglob("*") if p.is_file())
    size = sum((corpus / f).stat().st_size for f in files)
    expected = json.loads((workdir / "expected.json").read_text())
    ndb = sum(1 for _ in open(workdir / "db" / "bench.ndb"))
    hdb = sum(1 for _ in open(workdir / "db" / "bench.hdb"))
    mx, clam = results["mxguard"], results["clamscan"]

    def throughput(r: Result) -> float:
        return size / MB / max(r.total - r.load, 1e-9)

    def detections(r: Result) -> int:
        return sum(1 for f in files if r.verdicts.get(f) and not r.verdicts[f].startswith("ERROR"))

    missing = "(no line)"
    mismatches = [(f, mx.verdicts.get(f, missing), clam.verdicts.get(f, missing)) for f in files]
    mismatches = [m for m in mismatches if m[1] != m[2]]
    unexpected = {
        tool: [(f, r.verdicts.get(f, missing), expected.get(f)) for f in files if r.verdicts.get(f, missing) != expected.get(f)]
        for tool, r in results.items()
    }
    out = [
        "# Scan engine: mxguard built-in vs clamscan",
        "",
        f"Signatures: {ndb:,} .ndb + {hdb:,} .hdb; corpus: {size / MB:.1f} MB in {len(files):,} files, "
        f"{len(expected)} planted detections; best of {repeat}; load average at start {load_average:.2f} "
        f"on {os.cpu_count()} CPUs. MB = 10^6 bytes; MB/s = corpus / (total − load).",
        "",
        "| tool | load s | total s | MB/s | peak MB | detections |",
        "|---|--:|--:|--:|--:|--:|",
    ]
    for tool, r in results.items():
        out.append(
            f"| {tool} | {r.load:.2f} | {r.total:.2f} | {throughput(r):.1f} | {r.peak_kb * 1024 / MB:.0f} | {detections(r)} |"
        )
    speed, load = throughput(mx) / throughput(clam), mx.load / clam.load
    out += [
        "",
        f"mxguard / clamscan: throughput **{speed:.2f}×** (target ≥ 3×: {'met' if speed >= 3 else 'NOT met'}), "
        f"load time **{load:.2f}×** (target ≤ 0.20×: {'met' if load <= 0.2 else 'NOT met'}), "
        f"detections {'equal' if not mismatches else f'DIFFER in {len(mismatches)} files'}.",
    ]
    if mismatches:
        out += ["", "| file | mxguard | clamscan |", "|---|---|---|"]
        out += [f"| {f} | {m} | {c} |" for f, m, c in mismatches]
    names = set()
    for tool, wrong in unexpected.items():
        if wrong:
            out += ["", f"{tool} differs from the planted detections in {len(wrong)} files:", ""]
            out += [f"- {f}: {got} (planted: {want})" for f, got, want in wrong]
            names |= {n for _, got, want in wrong for n in (got, want) if n}
    lines = signature_lines(workdir, names)
    if lines:
        out += ["", "Signatures involved:", ""] + [f"- `{line}`" for line in lines.values()]
    return "\n".join(out) + "\n", not mismatches


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/mxguard-scanbench"), help="database and corpus cache")
    parser.add_argument("--regenerate", action="store_true", help="rebuild the database and corpus")
    parser.add_argument("--repeat", type=int, default=1, help="best of N runs per tool")
    parser.add_argument("--corpus-mb", type=int, default=220, help="corpus size (at least 200 for the benchmark proper)")
    args = parser.parse_args()
    if not MXGUARD.exists():
        sys.exit(f"{MXGUARD} missing: cargo build --release")
    if not shutil.which(CLAMSCAN):
        sys.exit("clamscan missing: apt-get install clamav")

    params = {"format": FORMAT, "seed": SEED, "ndb": NDB_SIGS, "hdb": HDB_SIGS, "corpus_mb": args.corpus_mb}
    stamp = args.workdir / "params.json"
    if args.regenerate or not stamp.exists() or json.loads(stamp.read_text()) != params:
        print(f"generating the database and corpus in {args.workdir} ...", file=sys.stderr)
        started = time.monotonic()
        generate(args.workdir, args.corpus_mb)
        stamp.write_text(json.dumps(params))
        print(f"generated in {time.monotonic() - started:.0f} s", file=sys.stderr)
    # Both tools read the corpus from the page cache, not the disk.
    for path in (args.workdir / "corpus").rglob("*"):
        if path.is_file():
            path.read_bytes()

    signatures = sum(sum(1 for _ in open(args.workdir / "db" / f)) for f in ("bench.ndb", "bench.hdb"))
    # Rounds alternate the tools, so that load from elsewhere on the
    # machine hits both alike.
    load_average = os.getloadavg()[0]
    results: dict[str, Result] = {}
    for round_ in range(1, args.repeat + 1):
        for tool in ("mxguard", "clamscan"):
            print(f"round {round_}/{args.repeat}: {tool} ...", file=sys.stderr)
            result = measure(tool, args.workdir, signatures)
            results[tool] = best(results[tool], result) if tool in results else result
    text, equal = report(args.workdir, results, args.repeat, load_average)
    print(text, end="")
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "scan-latest.md").write_text(text)
    sys.exit(0 if equal else 1)


if __name__ == "__main__":
    main()
