#!/usr/bin/env bash
# Install Prometheus and promtool (the Debian `prometheus` package) for the observability tests:
# tests/integration/observability/test_promtool.py (promtool check/test rules) and
# test_live_prometheus.py (a real Prometheus on loopback). Those tests skip when the binaries are absent.
#
# Idempotent: does nothing when /usr/bin/prometheus and promtool are already there. When it cannot
# install (not root and no password-less sudo, no apt-get, apt-get failing), it says why and exits 0,
# so that CI goes on and the tests skip with a clear reason; set REQUIRE_PROMETHEUS=1 to fail instead.
# The package's service is not started (a temporary policy-rc.d denies it while installing).
#
#   bash deploy/install-prometheus.sh
set -euo pipefail

say() { printf 'install-prometheus: %s\n' "$*" >&2; }

give_up() {
  say "$1; the Prometheus tests will be skipped"
  if [ "${REQUIRE_PROMETHEUS:-0}" = "1" ]; then
    exit 1
  fi
  exit 0
}

if [ -x /usr/bin/prometheus ] && command -v promtool >/dev/null 2>&1; then
  say "already installed: $(/usr/bin/prometheus --version 2>&1 | head -n 1)"
  exit 0
fi

if ! command -v apt-get >/dev/null 2>&1; then
  give_up "apt-get not found (not a Debian/Ubuntu system): install prometheus and promtool yourself"
fi

SUDO=()
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1 && sudo -n true >/dev/null 2>&1; then
    SUDO=(sudo -n)
  else
    give_up "not root and no password-less sudo: cannot run apt-get install prometheus"
  fi
fi

# Keep the package's daemons from starting (CI machines and containers only need the binaries).
POLICY=/usr/sbin/policy-rc.d
CREATED_POLICY=0
if [ ! -e "$POLICY" ]; then
  if "${SUDO[@]}" sh -c "printf '#!/bin/sh\nexit 101\n' > $POLICY && chmod +x $POLICY"; then
    CREATED_POLICY=1
  fi
fi
cleanup() {
  if [ "$CREATED_POLICY" = "1" ]; then
    "${SUDO[@]}" rm -f "$POLICY" || true
  fi
}
trap cleanup EXIT

export DEBIAN_FRONTEND=noninteractive
say "installing the Debian prometheus package (apt-get)"
if ! "${SUDO[@]}" apt-get update -qq; then
  give_up "apt-get update failed"
fi
if ! "${SUDO[@]}" apt-get install -y -qq --no-install-recommends prometheus >/dev/null; then
  give_up "apt-get install prometheus failed"
fi

if [ -x /usr/bin/prometheus ] && command -v promtool >/dev/null 2>&1; then
  say "installed: $(/usr/bin/prometheus --version 2>&1 | head -n 1)"
else
  give_up "the prometheus package did not provide /usr/bin/prometheus and promtool"
fi
