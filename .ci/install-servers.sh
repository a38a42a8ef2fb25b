#!/usr/bin/env bash
# Installs the real SMTP servers the conformance suite (test/conformance, issue 7) starts
# on 127.0.0.1: Postfix with Cyrus SASL (sasldb), aiosmtpd for the Debian python3, and
# swaks, the independent client that proves the harness.
#
# Idempotent and fast: when every package is installed it does nothing (no apt-get update).
# Run as root on Debian (CI). Anywhere else it prints a loud notice and exits 0, and the
# suite then skips the missing servers loudly (or fails, with CI / SMTPWIRE_REQUIRE_REAL_SERVERS=1).
#
# The system Postfix is never used: the suite runs private instances with their own config,
# queue and ports. This script keeps the package's postinst from starting (or configuring)
# a system instance, and stops one that it started anyway.
set -euo pipefail

# libnet-ssleay-perl: swaks needs it for STARTTLS and implicit TLS (only a Recommends of swaks).
# Dovecot (LMTP, submission, SCRAM/OAUTHBEARER), Redis + Sentinel (outbox topologies), dkimpy + PyNaCl (DKIM
# verification), ripmime (independent MIME reader), chromium (HTML report test); unbound (validating resolver),
# ldnsutils (ldns-signzone, ldns-keygen) and nsd (authoritative) for the DNS lab of MX delivery; postgresql for
# the outbox on PostgreSQL (its tests initdb a private instance; the package's own cluster is not started here).
PACKAGES=(postfix python3-aiosmtpd sasl2-bin libsasl2-modules swaks libnet-ssleay-perl
  dovecot-core dovecot-lmtpd dovecot-submissiond redis-server redis-sentinel python3-dkim python3-nacl ripmime chromium
  unbound ldnsutils nsd postgresql)

loud() {
  printf '%s\n' '!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!' \
    "!!! install-servers: $*" \
    '!!! the conformance suite will skip (or, under CI, fail on) the missing servers' \
    '!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!' >&2
}

# Exim 4.96 for the conform matrix: its Debian package conflicts with Postfix's (one MTA per system), so it
# is extracted, never installed, into EXIM_ROOT and run from there with a private config
# (test/conformance/servers/exim.ts). Idempotent; loud and harmless when it cannot be done.
EXIM_ROOT=/opt/smtpwire-exim
install_exim() {
  if [ -x "$EXIM_ROOT/usr/sbin/exim4" ] && id Debian-exim >/dev/null 2>&1; then return 0; fi
  if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null 2>&1; then
    loud "cannot extract Exim into $EXIM_ROOT (needs root and apt-get)"
    return 0
  fi
  local tmp
  tmp=$(mktemp -d)
  chmod 755 "$tmp"
  # A fresh machine may have no package lists yet: update once and try again.
  if ! (cd "$tmp" && apt-get download exim4-daemon-light libidn12) &&
    ! (apt-get update >/dev/null && cd "$tmp" && apt-get download exim4-daemon-light libidn12); then
    loud "apt-get download exim4-daemon-light libidn12 failed"
    rm -rf "$tmp"
    return 0
  fi
  mkdir -p "$EXIM_ROOT"
  for deb in "$tmp"/*.deb; do dpkg-deb -x "$deb" "$EXIM_ROOT"; done
  rm -rf "$tmp"
  # The binary looks up its compiled-in user when it starts, whatever the config says.
  id Debian-exim >/dev/null 2>&1 || useradd --system --no-create-home --shell /usr/sbin/nologin Debian-exim
  echo "install-servers: Exim extracted into $EXIM_ROOT"
}
install_exim

missing=()
for pkg in "${PACKAGES[@]}"; do
  status=$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null || true)
  [ "$status" = "install ok installed" ] || missing+=("$pkg")
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "install-servers: all present (${PACKAGES[*]})"
  exit 0
fi

if ! command -v apt-get >/dev/null 2>&1; then
  loud "no apt-get here; missing: ${missing[*]}"
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  loud "not root; missing: ${missing[*]} (run this script as root)"
  exit 0
fi

echo "install-servers: installing ${missing[*]}"
postfix_was_installed=yes
case " ${missing[*]} " in *" postfix "*) postfix_was_installed=no ;; esac

# "No configuration": the postinst writes no system main.cf for a mail server we never use.
if [ "$postfix_was_installed" = no ] && command -v debconf-set-selections >/dev/null 2>&1; then
  printf '%s\n' \
    'postfix postfix/main_mailer_type select No configuration' \
    "postfix postfix/mailname string $(hostname -f 2>/dev/null || hostname)" | debconf-set-selections
fi

# policy-rc.d exit 101 = "do not start services" for invoke-rc.d in maintainer scripts.
# Only when none exists already, and always removed again.
policy=/usr/sbin/policy-rc.d
own_policy=no
if [ ! -e "$policy" ]; then
  printf '#!/bin/sh\nexit 101\n' >"$policy"
  chmod 755 "$policy"
  own_policy=yes
fi
cleanup() { if [ "$own_policy" = yes ]; then rm -f "$policy"; fi; }
trap cleanup EXIT

export DEBIAN_FRONTEND=noninteractive
apt-get update
apt-get install -y --no-install-recommends "${PACKAGES[@]}"

# Belt and braces: if a system Postfix came up during this install, stop it, so nothing of
# ours ever talks to it and port 25 stays closed. One that ran before this script is left alone.
if [ "$postfix_was_installed" = no ] && postfix status >/dev/null 2>&1; then
  echo "install-servers: stopping the system Postfix started by the package install"
  postfix stop || true
fi

echo "install-servers: done"
