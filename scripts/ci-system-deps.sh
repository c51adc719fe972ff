#!/usr/bin/env bash
# Debian packages some tests need: headless Chromium for the docs site's browser test, and
# jargon-text (the Jargon File, the public-domain text corpus of the language-model tasks), and
# redis-server for @lopt/distributed and the CLI's distributed meta-training (those tests
# start their own server on a free loopback port, so none is started here).
# Installs only what is missing (apt-get update once, non-interactive, quiet).
set -euo pipefail
missing=()
[ -x /usr/bin/chromium ] || missing+=(chromium)
[ -f /usr/share/doc/jargon-text/jargon.txt.gz ] || missing+=(jargon-text)
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
# jargon-text ships its text under /usr/share/doc: keep it even where dpkg is told to skip docs.
if [ -d /etc/dpkg/dpkg.cfg.d ] && grep -rqs 'path-exclude=/usr/share/doc' /etc/dpkg/dpkg.cfg.d; then
  echo 'path-include=/usr/share/doc/jargon-text/*' | $SUDO tee /etc/dpkg/dpkg.cfg.d/lopt-jargon-text >/dev/null
fi
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
if [ -x /usr/bin/chromium ]; then /usr/bin/chromium --version; fi
test -f /usr/share/doc/jargon-text/jargon.txt.gz
redis-server --version
