#!/usr/bin/env bash
# Debian packages some tests need: headless Chromium for the docs site's browser test, and
# redis-server for @lopt/distributed and the CLI's distributed meta-training (those tests
# start their own server on a free loopback port, so none is started here).
# Installs only what is missing (apt-get update once, non-interactive, quiet).
set -euo pipefail
missing=()
[ -x /usr/bin/chromium ] || missing+=(chromium)
command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
if [ "${#missing[@]}" -eq 0 ]; then
  exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
  echo "ci-system-deps: missing ${missing[*]} and apt-get is not available; install them by hand" >&2
  exit 1
fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
echo "ci-system-deps: installing ${missing[*]} from Debian"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
[ -x /usr/bin/chromium ] && /usr/bin/chromium --version
redis-server --version
