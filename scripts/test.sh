#!/usr/bin/env bash
# The whole test suite on a fresh Debian machine: installs the Debian
# packages the tests drive for real (if missing), then runs cargo test.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PATH:/usr/sbin:/sbin"

# "probe command|Debian package": the package is installed when the probe fails.
needed=(
  "command -v swaks|swaks"
  "perl -MNet::SSLeay -e1|libnet-ssleay-perl" # swaks -tls
  "command -v smtp-sink|postfix"
  "command -v smtp-source|postfix"
  "command -v dnsmasq|dnsmasq-base"
  "command -v clamd|clamav-daemon"
  "command -v clamscan|clamav"
  "command -v python3|python3" # a real HTTP server for LiveUpdate downloads
  "command -v chromium|chromium" # the admin pages in a real browser
  "command -v chromedriver|chromium-driver"
  "command -v openssl|openssl" # a test CA signing the admin certificate request
)
missing=()
for entry in "${needed[@]}"; do
  probe=${entry%%|*}
  package=${entry##*|}
  bash -c "$probe" >/dev/null 2>&1 || missing+=("$package")
done
if [ "${#missing[@]}" -gt 0 ]; then
  sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
  # Postfix is needed only for its smtp-sink/smtp-source tools: do not let
  # the package configure a mail server on this machine.
  echo "postfix postfix/main_mailer_type select No configuration" | $sudo debconf-set-selections
  $sudo apt-get update -q
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q --no-install-recommends "${missing[@]}"
fi
exec cargo test "$@"
