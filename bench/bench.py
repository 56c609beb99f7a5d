#!/usr/bin/env python3
"""Loopback throughput benchmark for mxguard (started by bench/run.sh).

For each path below and each session count, Postfix's smtp-source sends the
same load and the time is taken until smtp-sink has *received* every
message (end to end, not just accepted by the first hop):

  direct                 smtp-source -> smtp-sink
  postfix                smtp-source -> private Postfix relay (no scanning) -> smtp-sink
  postfix+clamav-milter  the same Postfix relay, scanning through clamav-milter and
                         a private clamd
  mxguard                smtp-source -> mxguard (default policy, virus scanning
                         on) -> smtp-sink
  mxguard-noscan         the same with virus scanning off
  mxguard-nolog          the same with the local event store off
  mxguard+blocking       mxguard with scanning and every blocking rule on
  mxguard+quarantine     mxguard forwarding every infected file to a Central
                         Quarantine server on loopback (and the time until
                         every item is on the server)

Two workloads: "plain" (smtp-source's own 10 KB messages, 20 sessions and
1 session), "zip" (a prepared message with a 1 MB zip attachment that
mxguard opens, 20 sessions) and, on request, "infected" (a message with
the EICAR file attached, for mxguard and mxguard+quarantine).

Every run gets fresh servers and empty queues, on ephemeral 127.0.0.1
ports. The result is a markdown table on stdout and in
bench/results/latest.md; server logs are copied to bench/results/logs/.
"""

import argparse
import contextlib
import os
import re
import resource
import shutil
import signal
import smtplib
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
RESULTS = REPO / "bench" / "results"
MXGUARD = REPO / "target" / "release" / "mxguard"
DEFS = REPO / "etc" / "defs"  # absolute: the servers do not run in the repository
SENDER = "from@bench.test"
DOMAIN = "example.com"
RECIPIENT = f"to@{DOMAIN}"
CLK_TCK = os.sysconf("SC_CLK_TCK")
POLL = 0.02  # seconds between looks at the sink's counter
MX_INCOMING, MX_OUTGOING = 50, 30  # mxguard's connection limits
# Warnings, plus the events (blocking and scan findings: none for clean mail).
MX_LOG = "warn,mxguard::event=info"
# The EICAR test file, assembled here so that this file is not detected itself.
EICAR = b"X5O!P%@AP[4\\PZX54(P^)7CC)7}$EICAR" + b"-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*"


# --------------------------------------------------------------------------
# Small helpers


def free_port() -> int:
    """A 127.0.0.1 port nobody listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port: int | Path, timeout: float = 30.0) -> bool:
    """Wait until something accepts connections on 127.0.0.1:port (or on
    the Unix socket at that path)."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        try:
            if isinstance(port, Path):
                with socket.socket(socket.AF_UNIX) as s:
                    s.settimeout(1)
                    s.connect(str(port))
            else:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return True
        except OSError:
            time.sleep(0.05)
    return False


def run(*argv: str, log: Path | None = None) -> str:
    """Run a short command; fail loudly with its output (and its log,
    where Postfix commands write their errors)."""
    done = subprocess.run(argv, capture_output=True, text=True)
    if done.returncode != 0:
        logged = log.read_text(errors="replace") if log and log.exists() else ""
        sys.exit(f"{' '.join(argv)} failed:\n{done.stdout}{done.stderr}{logged}")
    return done.stdout


def process_cpu(pid: int) -> tuple[int, float, float]:
    """(parent pid, user and system CPU seconds of the process and of its
    reaped children)."""
    with open(f"/proc/{pid}/stat") as f:
        stat = f.read()
    # The command name may contain spaces: fields start after its ")".
    fields = [int(x) for x in stat[stat.rindex(")") + 2 :].split()[1:15]]
    utime, stime, cutime, cstime = fields[10:14]
    return fields[0], (utime + cutime) / CLK_TCK, (stime + cstime) / CLK_TCK


def tree_cpu(roots: list[int]) -> tuple[float, float]:
    """User and system CPU seconds of processes and all their descendants
    (dead ones count once reaped, as Postfix's master does with its own)."""
    usage, parent = {}, {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            with contextlib.suppress(OSError, ValueError):
                parent[int(entry)], *usage[int(entry)] = process_cpu(int(entry))

    def in_tree(pid: int) -> bool:
        while pid > 1:
            if pid in roots:
                return True
            pid = parent.get(pid, 0)
        return False

    mine = [cpu for pid, cpu in usage.items() if in_tree(pid)]
    return sum(u for u, _ in mine), sum(s for _, s in mine)


@dataclass
class CpuSnapshot:
    """Host CPU jiffies (busy, total) and the relay's (user, system) seconds."""

    host: tuple[int, int]
    relay: tuple[float, float] | None

    @staticmethod
    def take(relay_pids: list[int]) -> "CpuSnapshot":
        with open("/proc/stat") as f:
            jiffies = [int(x) for x in f.readline().split()[1:]]
        idle = jiffies[3] + jiffies[4]  # idle + iowait
        return CpuSnapshot((sum(jiffies) - idle, sum(jiffies)), tree_cpu(relay_pids) if relay_pids else None)


def count_lines(path: Path, pattern: str) -> tuple[int, list[str]]:
    """Lines of a log matching a regex: how many, and the first few. Colour
    codes are taken out first: in mxguard's "ESC[31mERROR" no word boundary
    precedes ERROR."""
    if not path.exists():
        return 0, []
    lines = re.sub(r"\x1b\[[0-9;]*m", "", path.read_text(errors="replace")).splitlines()
    hits = [l.rstrip() for l in lines if re.search(pattern, l)]
    return len(hits), hits[:3]


def queued_files(*dirs: Path) -> int:
    """Regular files left under queue directories."""
    return sum(1 for d in dirs if d.is_dir() for p in d.rglob("*") if p.is_file())


class Children:
    """Processes started here, each in its own process group so that it can
    be stopped (with anything it forked) by its id."""

    def __init__(self) -> None:
        self.procs: list[subprocess.Popen] = []

    def start(self, argv: list[str], **kw) -> subprocess.Popen:
        proc = subprocess.Popen(argv, start_new_session=True, **kw)
        self.procs.append(proc)
        return proc

    @staticmethod
    def stop(proc: subprocess.Popen, grace: float = 10.0) -> None:
        if proc.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(grace)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()

    def stop_all(self) -> None:
        for proc in reversed(self.procs):
            self.stop(proc)
        self.procs.clear()


# --------------------------------------------------------------------------
# The servers


class Sink:
    """smtp-sink with its running counter (-c) written to a file; the
    counter line "sess=N quit=N mesg=N\\r" is updated at every final dot."""

    def __init__(self, children: Children, workdir: Path) -> None:
        self.port = free_port()
        self.counter = workdir / "sink.counter"
        user = ["-u", "nobody"] if os.geteuid() == 0 else []
        with open(self.counter, "wb") as out:
            self.proc = children.start(
                ["smtp-sink", *user, "-c", f"127.0.0.1:{self.port}", "1000"], stdout=out, stderr=subprocess.STDOUT
            )
        if not wait_port(self.port, 10):
            sys.exit("smtp-sink did not start")

    def received(self) -> int:
        with open(self.counter, "rb") as f:
            f.seek(max(0, os.fstat(f.fileno()).st_size - 200))
            found = re.findall(rb"mesg=(\d+)\r", f.read())
        return int(found[-1]) if found else 0


class Direct:
    """No relay: smtp-source talks to smtp-sink."""

    name, label = "direct", "smtp-source → smtp-sink"

    def start(self, children: Children, workdir: Path, sink_port: int) -> int:
        return sink_port

    def pids(self) -> list[int]:
        return []

    def stop(self) -> None:
        pass

    def problems(self, results_dir: Path) -> list[str]:
        return []


class PostfixRelay:
    """A private Postfix instance (own config, queue and data directories
    under the work directory) relaying example.com to the sink. Postfix
    defaults otherwise, except that nothing is chrooted and DNS is off."""

    name, label = "postfix", "smtp-source → Postfix relay → smtp-sink"
    QUEUES = ("maildrop", "incoming", "active", "deferred", "hold", "corrupt")

    def start(self, children: Children, workdir: Path, sink_port: int) -> int:
        self.root = workdir / "postfix"
        self.etc, self.spool = self.root / "etc", self.root / "spool"
        self.log = self.root / "postfix.log"
        self.etc.mkdir(parents=True)
        self.spool.mkdir()  # `postfix check` creates what is inside
        master_cf = next(
            p for p in map(Path, ("/usr/share/postfix/master.cf.dist", "/etc/postfix/master.cf.proto")) if p.exists()
        )
        shutil.copy(master_cf, self.etc / "master.cf")
        version = run("postconf", "-dh", "mail_version").strip()
        settings = {
            "compatibility_level": ".".join(version.split(".")[:2]),
            "queue_directory": self.spool,
            "data_directory": self.root / "data",
            "mail_owner": "postfix",
            "setgid_group": "postdrop",
            "maillog_file": self.log,
            "maillog_file_prefixes": self.root,
            "myhostname": "relay.bench.test",
            "inet_interfaces": "127.0.0.1",
            "inet_protocols": "ipv4",
            "mynetworks": "127.0.0.0/8",
            # Relay only example.com, always to the sink; deliver nothing locally.
            "mydestination": "",
            "local_recipient_maps": "",
            "alias_maps": "",
            "alias_database": "",
            "relay_domains": DOMAIN,
            "transport_maps": f"inline:{{{DOMAIN}=smtp:[127.0.0.1]:{sink_port}}}",
            "smtp_dns_support_level": "disabled",
            "smtp_host_lookup": "native",
            **self.scanner_settings(children),
        }
        (self.etc / "main.cf").write_text("".join(f"{k} = {v}\n" for k, v in settings.items()))
        self.port = free_port()
        self.postconf("-F", "*/*/chroot = n")
        self.postconf("-MX", "smtp/inet")  # the stock port-25 listener
        self.postconf("-M", f"127.0.0.1:{self.port}/inet = 127.0.0.1:{self.port} inet n - n - - smtpd")
        run("postfix", "-c", str(self.etc), "check", log=self.log)
        run("postfix", "-c", str(self.etc), "start", log=self.log)
        if not wait_port(self.port, 30):
            sys.exit(f"the Postfix relay did not open its port; see {self.log}")
        return self.port

    def scanner_settings(self, children: Children) -> dict[str, str]:
        """Start the scanner Postfix hands mail to, if any; its main.cf
        settings."""
        return {}

    def postconf(self, *args: str) -> str:
        return run("postconf", "-c", str(self.etc), *args, log=self.log)

    def settings(self) -> str:
        """The concurrency settings that matter here, as configured."""
        names = (
            "default_process_limit",
            "smtp_destination_concurrency_limit",
            "initial_destination_concurrency",
            "smtpd_client_connection_count_limit",
            "in_flow_delay",
        )
        return ", ".join(self.postconf("-x", *names).split("\n")).strip(", ")

    def master(self) -> int | None:
        with contextlib.suppress(OSError, ValueError):
            return int((self.spool / "pid" / "master.pid").read_text())
        return None

    def pids(self) -> list[int]:
        master = self.master()
        return [master] if master else []

    def stop(self) -> None:
        master = self.master()
        subprocess.run(["postfix", "-c", str(self.etc), "stop"], capture_output=True)
        end = time.monotonic() + 10
        while master and Path(f"/proc/{master}").exists() and time.monotonic() < end:
            time.sleep(0.1)
        if master and Path(f"/proc/{master}").exists():
            subprocess.run(["postfix", "-c", str(self.etc), "abort"], capture_output=True)

    def problems(self, results_dir: Path) -> list[str]:
        notes = []
        left = queued_files(*(self.spool / q for q in self.QUEUES))
        if left:
            notes.append(f"{left} message(s) left in the Postfix queue")
        n, first = count_lines(self.log, r"(warning|error|fatal|panic):")
        if n:
            notes.append(f"{n} warning/error line(s) in postfix.log, e.g. `{first[0]}`")
        if self.log.exists():
            shutil.copy(self.log, results_dir / "postfix.log")
        return notes


class PostfixClamavMilter(PostfixRelay):
    """The Postfix relay above scanning every message through clamav-milter
    and a private clamd, both with stock settings except their sockets and
    logs. clamd's database is mxguard's own etc/defs (EICAR): it loads in
    a moment, and there is no freshclam."""

    name, label = "postfix+clamav-milter", "smtp-source → Postfix relay + clamav-milter → smtp-sink"
    clamd: subprocess.Popen | None = None
    milter: subprocess.Popen | None = None

    def scanner_settings(self, children: Children) -> dict[str, str]:
        clamav = self.root / "clamav"
        db = clamav / "db"
        db.mkdir(parents=True)
        for ndb in DEFS.glob("*.ndb"):
            shutil.copy(ndb, db)
        self.clamd_log, self.milter_log = clamav / "clamd.log", clamav / "clamav-milter.log"
        clamd_port, milter_socket = free_port(), clamav / "milter.sock"
        (clamav / "clamd.conf").write_text(
            f"TCPSocket {clamd_port}\nTCPAddr 127.0.0.1\nDatabaseDirectory {db}\nForeground yes\n"
            f"LogFile {self.clamd_log}\nLogTime yes\n"
        )
        (clamav / "clamav-milter.conf").write_text(
            f"MilterSocket {milter_socket}\nMilterSocketMode 666\nClamdSocket tcp:127.0.0.1:{clamd_port}\n"
            f"OnInfected Reject\nAddHeader Replace\nForeground yes\nLogFile {self.milter_log}\nLogTime yes\n"
            "LogInfected Basic\n"
        )
        with open(clamav / "clamd.out", "wb") as out:
            self.clamd = children.start(["clamd", "-c", str(clamav / "clamd.conf")], stdout=out, stderr=out)
        if not wait_port(clamd_port, 60):
            sys.exit(f"clamd did not open its port; see {clamav}/clamd.*")
        with open(clamav / "clamav-milter.out", "wb") as out:
            self.milter = children.start(["clamav-milter", "-c", str(clamav / "clamav-milter.conf")],
                                         stdout=out, stderr=out)  # fmt: skip
        if not wait_port(milter_socket, 30):
            sys.exit(f"clamav-milter did not open its socket; see {clamav}/clamav-milter.*")
        return {"smtpd_milters": f"unix:{milter_socket}", "milter_default_action": "tempfail"}

    def start(self, children: Children, workdir: Path, sink_port: int) -> int:
        """Start, then make sure an EICAR message is refused: a milter that
        lets it through does not scan, and its numbers would mean nothing."""
        port = super().start(children, workdir, sink_port)
        message = EmailMessage()
        message["From"], message["To"], message["Subject"] = SENDER, RECIPIENT, "EICAR check"
        message.set_content("The EICAR test file is attached.")
        message.add_attachment(EICAR, maintype="application", subtype="octet-stream", filename="eicar.com")
        try:
            with smtplib.SMTP("127.0.0.1", port, timeout=30) as smtp:
                smtp.send_message(message, SENDER, [RECIPIENT])
        except smtplib.SMTPDataError as refused:
            if refused.smtp_code >= 500:
                return port
            sys.exit(f"EICAR got {refused.smtp_code} {refused.smtp_error!r}, not a rejection; see {self.milter_log}")
        sys.exit(f"the Postfix relay accepted EICAR: clamav-milter does not scan; see {self.milter_log}")

    def pids(self) -> list[int]:
        return super().pids() + [p.pid for p in (self.clamd, self.milter) if p]

    def problems(self, results_dir: Path) -> list[str]:
        notes = super().problems(results_dir)
        for log in (self.clamd_log, self.milter_log):
            n, first = count_lines(log, r"(?i)\b(warning|error)\b")
            if n:
                notes.append(f"{n} warning/error line(s) in {log.name}, e.g. `{first[0]}`")
            if log.exists():
                shutil.copy(log, results_dir / log.name)
        for proc in (self.clamd, self.milter):
            if proc and proc.returncode not in (0, None, -signal.SIGTERM):
                notes.append(f"{proc.args[0]} exited with status {proc.returncode}")
        return notes


class Mxguard:
    """The release binary with a config written here and the default
    policy: container limits, encrypted containers, and virus scanning by
    the built-in engine (the repository's etc/defs) and the heuristics."""

    name, label = "mxguard", "smtp-source → mxguard (scanning) → smtp-sink"
    scan = "true"
    store = "true"
    policy = ""
    proc: subprocess.Popen | None = None

    def start(self, children: Children, workdir: Path, sink_port: int) -> int:
        self.root = workdir / "mxguard"
        self.root.mkdir()
        self.log = self.root / "mxguard.log"
        self.port = free_port()
        config = self.root / "mxguard.toml"
        config.write_text(
            f"""[smtp]
listen = ["127.0.0.1:{self.port}"]
hostname = "mx.bench.test"
max_incoming_connections = {MX_INCOMING}
[paths]
queue_dir = "{self.root}/queues"
log_dir = "{self.root}/logs"
[delivery]
max_outgoing_connections = {MX_OUTGOING}
[routing]
[[routing.local]]
name = "{DOMAIN}"
relay = "127.0.0.1:{sink_port}"
[admin]
http_listen = "127.0.0.1:{free_port()}"
https_listen = "127.0.0.1:{free_port()}"
[antivirus]
enabled = {self.scan}
heuristic_level = "medium"
defs_dir = "{DEFS}"
[logging]
local_enabled = {self.store}
{self.policy}"""
        )
        with open(self.log, "wb") as log:
            self.proc = children.start(
                [str(MXGUARD), "serve", "--config", str(config)],
                cwd=self.root,
                env={**os.environ, "RUST_LOG": MX_LOG},
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        if not wait_port(self.port, 30):
            sys.exit(f"mxguard did not open its port; see {self.log}")
        return self.port

    def pids(self) -> list[int]:
        return [self.proc.pid] if self.proc else []

    def stop(self) -> None:
        if self.proc:
            Children.stop(self.proc)

    def events_stored(self) -> int | None:
        """Events in the store once mxguard has stopped (None when off)."""
        db = self.root / "logs" / "events.sqlite"
        if self.store != "true" or not db.exists():
            return None
        with contextlib.closing(sqlite3.connect(db)) as conn:
            return conn.execute("SELECT count(*) FROM events").fetchone()[0]

    def problems(self, results_dir: Path) -> list[str]:
        notes = []
        queues = self.root / "queues"
        left = queued_files(*(queues / q for q in ("tmp", "fast", "slow", "hold")))
        if left:
            notes.append(f"{left} message(s) left in mxguard's queues")
        n, first = count_lines(self.log, r"\b(WARN|ERROR)\b")
        if n:
            notes.append(f"{n} WARN/ERROR line(s) in mxguard.log, e.g. `{first[0]}`")
        # Clean mail must be scanned, not dropped or held for a scan error.
        n, first = count_lines(self.log, r"scan error")
        if n:
            notes.append(f"{n} scan error line(s) in mxguard.log, e.g. `{first[0]}`")
        if self.proc.returncode not in (0, None):
            notes.append(f"mxguard exited with status {self.proc.returncode}")
        shutil.copy(self.log, results_dir / "mxguard.log")
        return notes


class MxguardNoscan(Mxguard):
    """mxguard with virus scanning off: what scanning costs."""

    name, label = "mxguard-noscan", "smtp-source → mxguard (no scanning) → smtp-sink"
    scan = "false"


class MxguardNolog(Mxguard):
    """mxguard with the local event store off: what storing events costs."""

    name, label = "mxguard-nolog", "smtp-source → mxguard (scanning, no event store) → smtp-sink"
    store = "false"


class MxguardQuarantine(Mxguard):
    """mxguard forwarding every infected file to a Central Quarantine
    server (`mxguard quarantine serve`) on loopback: what quarantining costs
    the mail flow, and how fast items reach the server."""

    name, label = "mxguard+quarantine", "smtp-source → mxguard (scanning, quarantine all) → smtp-sink; → quarantine server"
    TOKEN, API = "bench-gateway-token", "bench-api-token"

    def start(self, children: Children, workdir: Path, sink_port: int) -> int:
        cq = workdir / "cq"
        cq.mkdir()
        self.cq_port = free_port()
        (cq / "cq.toml").write_text(
            f'[quarantine_server]\nlisten = "127.0.0.1:{self.cq_port}"\nstorage_dir = "{cq}/store"\n'
            f'gateway_tokens = ["{self.TOKEN}"]\napi_tokens = ["{self.API}"]\n'
        )
        self.cq_log = cq / "cq.log"
        with open(self.cq_log, "wb") as log:
            self.cq = children.start([str(MXGUARD), "quarantine", "serve", "--config", str(cq / "cq.toml")],
                                     cwd=cq, env={**os.environ, "RUST_LOG": "warn"}, stdout=log,
                                     stderr=subprocess.STDOUT)  # fmt: skip
        if not wait_port(self.cq_port, 30):
            sys.exit(f"the quarantine server did not open its port; see {self.cq_log}")
        self.policy = (
            f'[antivirus.quarantine]\nmode = "all"\nserver = "127.0.0.1:{self.cq_port}"\n'
            f'token = "{self.TOKEN}"\ntls_verify = false\n'
        )
        return super().start(children, workdir, sink_port)

    def items(self) -> int:
        """Items the server holds now (its figures, over HTTPS)."""
        import json
        import ssl
        import urllib.request

        request = urllib.request.Request(f"https://127.0.0.1:{self.cq_port}/api/v1/status",
                                         headers={"Authorization": f"Bearer {self.API}"})  # fmt: skip
        try:
            with urllib.request.urlopen(request, timeout=5, context=ssl._create_unverified_context()) as answer:
                return int(json.load(answer).get("items", 0))
        except (OSError, ValueError):
            return 0

    def settle(self, result: "Result", args) -> None:
        """Wait until the server has an item per message: the time from the
        start of the run goes into `quarantined_s`."""
        end = time.monotonic() + args.timeout
        while time.monotonic() < end:
            if self.items() >= result.messages:
                result.quarantined_s = time.monotonic() - result.started
                return
            time.sleep(0.1)
        result.notes.append(f"the quarantine server holds {self.items()} of {result.messages} items")

    def pids(self) -> list[int]:
        return super().pids() + [self.cq.pid]

    def stop(self) -> None:
        super().stop()
        Children.stop(self.cq)


class MxguardBlocking(Mxguard):
    """mxguard with scanning and every blocking rule on that needs no
    outside service (DNSBL needs a DNS server and stays off)."""

    name, label = "mxguard+blocking", "smtp-source → mxguard (scanning), all blocking rules → smtp-sink"
    policy = """[blocking.size]
enabled = true
max_mb = 50
[blocking.subject]
enabled = true
patterns = ["*lottery winner*", "*free money*", "Exact Subject", "*act now*"]
[blocking.filename]
enabled = true
[blocking.sender]
enabled = true
entries = ["@spam.test", ".bulk.test", "bad@evil.test"]
[blocking.spam]
enabled = true
"""


# --------------------------------------------------------------------------
# What smtp-source sends


@dataclass
class Workload:
    name: str
    label: str
    sessions: tuple[int, ...]
    messages: int
    single_messages: int
    source_args: list[str]

    def count(self, sessions: int) -> int:
        return self.messages if sessions > 1 else self.single_messages


def zip_message(path: Path, size: int) -> None:
    """A message with a zip attachment of about `size` bytes: a member of
    incompressible data plus a few text files, as mxguard must open it."""
    import base64
    import io
    import random
    import zipfile

    data = random.Random(42).randbytes(size)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("data/measurements.bin", data)
        for i in range(5):
            z.writestr(f"docs/readme{i}.txt", "Benchmark text, quite compressible. " * 200)
    body = base64.encodebytes(buf.getvalue()).decode()
    path.write_text(
        f"From: <{SENDER}>\nTo: <{RECIPIENT}>\nSubject: quarterly data\nMIME-Version: 1.0\n"
        'Content-Type: multipart/mixed; boundary="b"\n\n--b\nContent-Type: text/plain\n\nData attached.\n'
        '--b\nContent-Type: application/zip; name="data.zip"\nContent-Disposition: attachment; filename="data.zip"\n'
        f"Content-Transfer-Encoding: base64\n\n{body}--b--\n"
    )


def infected_message(path: Path) -> None:
    """A message with the EICAR file attached, which mxguard deletes (and
    quarantines, on the quarantine path) before delivering the rest."""
    import base64

    path.write_text(
        f"From: <{SENDER}>\nTo: <{RECIPIENT}>\nSubject: invoice\nMIME-Version: 1.0\n"
        'Content-Type: multipart/mixed; boundary="b"\n\n--b\nContent-Type: text/plain\n\n'
        + "Please find the invoice attached.\n" * 30
        + '--b\nContent-Type: application/octet-stream; name="invoice.com"\n'
        'Content-Disposition: attachment; filename="invoice.com"\nContent-Transfer-Encoding: base64\n\n'
        f"{base64.encodebytes(EICAR).decode()}--b--\n"
    )


# --------------------------------------------------------------------------
# One measurement


@dataclass
class Result:
    workload: str
    path: str
    label: str
    sessions: int
    messages: int
    received: int = 0
    accepted_s: float | None = None  # smtp-source finished
    delivered_s: float | None = None  # the sink had every message
    tail_s: float | None = None  # from 99 % to 100 % received
    relay_cpu: tuple[float, float] | None = None  # user, system seconds
    host_busy_pct: float = 0.0
    events_stored: int | None = None  # rows in mxguard's event store after the run
    started: float = 0.0  # time.monotonic() when smtp-source started
    quarantined_s: float | None = None  # every item on the quarantine server
    notes: list[str] = field(default_factory=list)

    @property
    def rate(self) -> float | None:
        return self.messages / self.delivered_s if self.delivered_s else None


def wait_for_delivery(result: Result, source: subprocess.Popen, sink: Sink, relay_pids, args) -> None:
    """Follow the run until smtp-source has finished and the sink has every
    message, or until the timeout or a stall; fills in the times and CPU."""
    before = CpuSnapshot.take(relay_pids)
    after = None
    start = last_change = result.started = time.monotonic()
    last_count, almost_s = 0, None
    while True:
        now = time.monotonic()
        if result.accepted_s is None and source.poll() is not None:
            result.accepted_s = now - start
        count = sink.received()
        if count != last_count:
            last_change, last_count = now, count
        if almost_s is None and count >= 0.99 * result.messages:
            almost_s = now - start
        if result.delivered_s is None and count >= result.messages:
            result.delivered_s = now - start
            result.tail_s = result.delivered_s - almost_s
            after = CpuSnapshot.take(relay_pids)
        if result.delivered_s is not None and result.accepted_s is not None:
            break
        if now - start > args.timeout:
            result.notes.append(f"timed out after {args.timeout:.0f} s")
            break
        if result.accepted_s is not None and now - last_change > args.stall:
            result.notes.append(f"no progress for {args.stall:.0f} s after smtp-source finished")
            break
        time.sleep(POLL)
    after = after or CpuSnapshot.take(relay_pids)
    (busy0, total0), (busy1, total1) = before.host, after.host
    result.host_busy_pct = 100.0 * (busy1 - busy0) / max(1, total1 - total0)
    if before.relay and after.relay:
        result.relay_cpu = (after.relay[0] - before.relay[0], after.relay[1] - before.relay[1])


def measure(relay, workload: Workload, sessions: int, args, workdir: Path) -> Result:
    """Fresh sink and relay, one smtp-source run, timed until the sink has
    received every message."""
    result = Result(workload.name, relay.name, relay.label, sessions, workload.count(sessions))
    logs = RESULTS / "logs" / f"{workload.name}-{relay.name}-{sessions}"
    shutil.rmtree(logs, ignore_errors=True)
    logs.mkdir(parents=True)
    children = Children()
    with contextlib.ExitStack() as cleanup:
        cleanup.callback(children.stop_all)
        sink = Sink(children, workdir)
        cleanup.callback(relay.stop)
        port = relay.start(children, workdir, sink.port)

        source_log = workdir / "source.log"
        rusage0 = resource.getrusage(resource.RUSAGE_CHILDREN)
        with open(source_log, "wb") as out:
            source = children.start(
                ["smtp-source", "-s", str(sessions), *workload.source_args, "-m", str(result.messages),
                 "-f", SENDER, "-t", RECIPIENT, f"127.0.0.1:{port}"],
                stdout=out, stderr=subprocess.STDOUT,
            )  # fmt: skip
        wait_for_delivery(result, source, sink, relay.pids(), args)
        if hasattr(relay, "settle"):
            relay.settle(result, args)
        Children.stop(source)
        # smtp-source is the only child reaped meanwhile.
        rusage1 = resource.getrusage(resource.RUSAGE_CHILDREN)
        source_cpu = rusage1.ru_utime + rusage1.ru_stime - rusage0.ru_utime - rusage0.ru_stime
        if source.returncode != 0:
            tail = source_log.read_text(errors="replace").strip().splitlines()[-1:]
            result.notes.append(f"smtp-source exited with {source.returncode}: {' '.join(tail)}")
        time.sleep(args.settle)  # let late duplicates show up
        result.received = sink.received()
        sink_cpu = sum(process_cpu(sink.proc.pid)[1:])
        if result.received != result.messages:
            result.notes.append(f"sink received {result.received} of {result.messages}")
    # The relay has stopped now: its queues and logs are final.
    result.notes += relay.problems(logs)
    result.events_stored = getattr(relay, "events_stored", lambda: None)()
    print(
        f"  {workload.name:5} {relay.name:16} {sessions:2} session(s): {fmt(result.rate, 0)} msg/s, "
        f"end-to-end {fmt(result.delivered_s, 2)} s; CPU s: source {source_cpu:.1f}, "
        f"relay {fmt_cpu(result.relay_cpu)}, sink {sink_cpu:.1f}"
        + "".join(f"\n    ! {n}" for n in result.notes),
        file=sys.stderr,
    )
    return result


# --------------------------------------------------------------------------
# Report


def fmt(value: float | None, digits: int) -> str:
    return "—" if value is None else f"{value:,.{digits}f}"


def fmt_cpu(cpu: tuple[float, float] | None) -> str:
    return "—" if cpu is None else f"{sum(cpu):.1f} ({cpu[0]:.1f} usr + {cpu[1]:.1f} sys)"


# The ratios of msg/s reported, (numerator path, denominator path).
RATIOS = (
    ("mxguard", "direct"),
    ("mxguard", "postfix"),
    ("mxguard", "postfix+clamav-milter"),
    ("mxguard", "mxguard-noscan"),
    ("mxguard", "mxguard-nolog"),
    ("mxguard+blocking", "mxguard"),
    ("mxguard+blocking", "postfix"),
    ("mxguard+quarantine", "mxguard"),
)


def ratio(a: Result | None, b: Result | None) -> str:
    return f"{a.rate / b.rate:.2f}" if a and b and a.rate and b.rate else "—"


def report(results: list[Result], args, postfix_settings: str) -> str:
    cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
    commit = subprocess.run(["git", "-C", str(REPO), "describe", "--always", "--dirty"],
                            capture_output=True, text=True).stdout.strip()  # fmt: skip
    lines = [
        f"# mxguard loopback benchmark — {time.strftime('%Y-%m-%d %H:%M:%S')}",
        "",
        f"Host: {os.cpu_count()} CPU(s), {cpu}. mxguard {commit or '?'} (release build), "
        f"Postfix {run('postconf', '-dh', 'mail_version').strip()}. "
        f"Workloads: plain = smtp-source's {args.size}-byte payload; zip = a prepared message with a "
        f"{args.zip_size:,}-byte zip attachment (incompressible member plus text files). One connection "
        "per message. Time = smtp-source start until smtp-sink has received every message.",
        "",
        "| workload | path | sessions | messages | received | accepted (s) | end-to-end (s) | last 1 % (s) | msg/s "
        "| ms/msg (1 session) | relay CPU (s) | host CPU busy | events stored/s |",
        "|---|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|",
    ]
    for r in results:
        latency = fmt(1000 * r.delivered_s / r.messages if r.delivered_s and r.sessions == 1 else None, 2)
        events_rate = fmt(r.events_stored / r.delivered_s if r.events_stored and r.delivered_s else None, 0)
        lines.append(
            f"| {r.workload} | {r.label} | {r.sessions} | {r.messages:,} | {r.received:,} | {fmt(r.accepted_s, 2)} "
            f"| {fmt(r.delivered_s, 2)} | {fmt(r.tail_s, 2)} | **{fmt(r.rate, 0)}** | {latency} "
            f"| {fmt_cpu(r.relay_cpu)} | {r.host_busy_pct:.0f}% | {events_rate} |"
        )
    by = {(r.workload, r.path, r.sessions): r for r in results}
    lines += ["", "| workload | sessions | " + " | ".join(f"{a} / {b}" for a, b in RATIOS) + " |",
              "|---|--:|" + "--:|" * len(RATIOS)]  # fmt: skip
    for workload, sessions in sorted({(r.workload, r.sessions) for r in results}, key=lambda k: (k[0], -k[1])):
        cells = (ratio(by.get((workload, a, sessions)), by.get((workload, b, sessions))) for a, b in RATIOS)
        lines.append(f"| {workload} | {sessions} | " + " | ".join(cells) + " |")
    lines += [
        "",
        f"Settings: mxguard max_incoming_connections = {MX_INCOMING}, max_outgoing_connections = "
        f"{MX_OUTGOING}, RUST_LOG={MX_LOG}, fsync before 250; scanning: built-in engine with the "
        "repository's etc/defs plus heuristics at \"medium\". Postfix relay: stock defaults except no chroot "
        f"and no DNS ({postfix_settings or 'not run'}); it fsyncs queue files too and logs every message "
        "to a file. clamav-milter and clamd: stock settings except Postfix → milter over a Unix socket, "
        "milter → clamd over loopback TCP, clamd's database = etc/defs, OnInfected Reject, AddHeader "
        "Replace; the relay is checked to reject EICAR before each run. `last 1 %`: time from 99 % to "
        "100 % of the messages received. `relay CPU`: CPU time of the relay's whole process tree during "
        "the run (clamd and clamav-milter included). `host CPU busy`: over all CPUs, smtp-source and "
        "smtp-sink included. `events stored/s`: rows in mxguard's event store after the run "
        "divided by the end-to-end time, i.e. the insert rate the store sustained under that load.",
    ]
    for r in (r for r in results if r.quarantined_s):
        lines += ["", f"Central Quarantine ({r.workload}, {r.sessions} sessions): all {r.messages:,} items on the "
                  f"server {r.quarantined_s:.2f} s after the start ({r.messages / r.quarantined_s:,.0f} items/s)."]
    notes = [f"- {r.workload}, {r.path}, {r.sessions} session(s): {n}" for r in results for n in r.notes]
    if notes:
        lines += ["", "Problems seen:", "", *notes]
    return "\n".join(lines) + "\n"


PATHS = {
    cls.name: cls
    for cls in (Direct, PostfixRelay, PostfixClamavMilter, Mxguard, MxguardNoscan, MxguardNolog, MxguardBlocking,
                MxguardQuarantine)
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--messages", type=int, default=10000, help="messages per multi-session run")
    parser.add_argument("--sessions", type=int, default=20, help="parallel sessions of the throughput runs")
    parser.add_argument("--single-messages", type=int, help="messages per 1-session run (default: --messages)")
    parser.add_argument("--size", type=int, default=10240, help="payload bytes per message")
    parser.add_argument("--timeout", type=float, default=300, help="seconds allowed per run")
    parser.add_argument("--stall", type=float, default=20, help="give up after this long without progress")
    parser.add_argument("--settle", type=float, default=1, help="seconds to wait for late duplicates")
    parser.add_argument("--zip-messages", type=int, default=500, help="messages of the zip workload")
    parser.add_argument("--zip-size", type=int, default=1024 * 1024, help="bytes of the zip attachment")
    parser.add_argument("--infected-messages", type=int, default=2000, help="messages of the infected workload")
    parser.add_argument("--workloads", default="plain,zip", help="which workloads to run (also: infected)")
    parser.add_argument("--paths", default=",".join(PATHS), help="which paths to run")
    args = parser.parse_args()
    args.single_messages = args.single_messages or args.messages

    # SIGTERM unwinds like Ctrl-C, so every server is stopped on the way out.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    paths = [PATHS[p] for p in args.paths.split(",")]
    RESULTS.mkdir(parents=True, exist_ok=True)
    results, postfix_settings = [], ""
    with tempfile.TemporaryDirectory(prefix="mxguard-bench-") as tmp:
        os.chmod(tmp, 0o755)  # Postfix daemons run as the postfix user
        zip_file = Path(tmp) / "zip-message.eml"
        zip_message(zip_file, args.zip_size)
        infected_file = Path(tmp) / "infected-message.eml"
        infected_message(infected_file)
        workloads = {
            "plain": Workload("plain", "10 KB", tuple(dict.fromkeys((args.sessions, 1))), args.messages, args.single_messages,
                              ["-l", str(args.size)]),
            "zip": Workload("zip", "1 MB zip", (args.sessions,), args.zip_messages, args.zip_messages,
                            ["-F", str(zip_file)]),
            "infected": Workload("infected", "EICAR attached", (args.sessions,), args.infected_messages,
                                 args.infected_messages, ["-F", str(infected_file)]),
        }  # fmt: skip
        for workload in (workloads[w] for w in args.workloads.split(",")):
            for sessions in workload.sessions:
                for run, cls in enumerate(paths):
                    relay = cls()
                    # A path may be named twice (to see the noise): each run gets its own directory.
                    workdir = Path(tmp) / f"{workload.name}-{relay.name}-{sessions}-{run}"
                    workdir.mkdir()
                    results.append(measure(relay, workload, sessions, args, workdir))
                    if isinstance(relay, PostfixRelay):
                        postfix_settings = relay.settings()
    table = report(results, args, postfix_settings)
    (RESULTS / "latest.md").write_text(table)
    print(table)


if __name__ == "__main__":
    main()
