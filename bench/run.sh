#!/usr/bin/env bash
# Loopback benchmark: smtp-source → {smtp-sink | Postfix relay | Postfix relay
# with clamav-milter | mxguard} → smtp-sink. Installs what it needs, builds
# the release binary, then runs bench/bench.py (options are passed on; see
# bench/bench.py --help).
set -euo pipefail
cd "$(dirname "$0")/.."

if [[ $EUID -ne 0 ]]; then
    echo "bench/run.sh must run as root (private Postfix instance, smtp-sink -u nobody)" >&2
    exit 1
fi

# smtp-source, smtp-sink and postfix come from the Debian package postfix.
# "No configuration" keeps the package from setting up or starting the
# system's own Postfix; the benchmark only runs a private instance.
if ! command -v smtp-source >/dev/null || ! command -v smtp-sink >/dev/null || ! command -v postfix >/dev/null; then
    export DEBIAN_FRONTEND=noninteractive
    echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections
    apt-get update -qq
    apt-get install -y -qq postfix
fi
# clamd and clamav-milter for the postfix+clamav-milter path; the benchmark
# runs private instances with their own configs (no freshclam).
if ! command -v clamd >/dev/null || ! command -v clamav-milter >/dev/null; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq clamav-daemon clamav-milter
fi

cargo build --release --quiet
exec python3 bench/bench.py "$@"
