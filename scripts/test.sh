#!/usr/bin/env bash
# Sets up the workspace from scratch and runs the test suite over the backend matrix (the
# README's test command): every package on wasm, every package on cpu, and once more with
# the fast paths off (plain ops only, LOPT_FAST_PATHS=off). Each leg writes its own vitest
# JSON report (.vitest-results.<leg>.json); the last line counts them all.
# The docs site's browser test runs in the wasm leg only, and tests marked slow (skipped
# under LOPT_SLOW_TESTS=off: the apps' process-level end-to-end runs among them) in the
# wasm leg only; Celo2's quality runs on real data (LOPT_CELO2_QUALITY=1) are legs of their
# own on wasm. See the README's "Backend matrix".
set -uo pipefail
cd "$(dirname "$0")/.."
PNPM_VERSION=$(node -p "require('./package.json').packageManager.split('@')[1]")
pnpm() { npx -y "pnpm@${PNPM_VERSION}" "$@"; }
# Debian packages the tests use (Chromium, redis-server, the jargon-text corpus): installed
# when missing. As root (CI) beside the install and build below, which need none of them (apt
# waits mostly on the network and dpkg), and waited for before the tests; otherwise first,
# where sudo can ask for a password.
deps_pid=""
deps_log=$(mktemp)
if [ "$(id -u)" -eq 0 ]; then
  bash scripts/ci-system-deps.sh >"$deps_log" 2>&1 &
  deps_pid=$!
else
  bash scripts/ci-system-deps.sh || exit 1
fi
wait_deps() {
  local code=0
  if [ -n "$deps_pid" ]; then wait "$deps_pid" || code=$?; fi
  deps_pid=""
  cat "$deps_log"
  rm -f "$deps_log"
  if [ "$code" -ne 0 ]; then echo "ci-system-deps failed (exit $code)" >&2; exit 1; fi
}
pnpm install --frozen-lockfile || { wait_deps; exit 1; }
pnpm turbo run build --concurrency=2 --output-logs=errors-only || { wait_deps; exit 1; }

rm -f packages/*/.vitest-results*.json apps/*/.vitest-results*.json
status=0
# --tarballs (CI): the packed-tarball check (scripts/tarball-test.sh) runs beside the tests;
# it waits mostly on npm, so it costs the test runs little.
# Packing comes first, so the check reads the dist/ folders of the build above.
tarball_pid=""
if [ "${1:-}" = "--tarballs" ]; then
  tarball_log=$(mktemp)
  tarball_dir=$(mktemp -d)
  bash scripts/tarball-test.sh --pack "$tarball_dir" || { echo "tarball test failed: pnpm pack" >&2; wait_deps; exit 1; }
  TARBALLS_FROM=$tarball_dir bash scripts/tarball-test.sh >"$tarball_log" 2>&1 &
  tarball_pid=$!
fi
wait_deps
# The three legs share one pool of workers (scripts/test-legs.mjs); the build above is
# theirs, so no leg builds again.
node scripts/test-legs.mjs || status=1
if [ -n "$tarball_pid" ]; then
  tarball=0
  wait "$tarball_pid" || tarball=$?
  cat "$tarball_log"
  rm -rf "$tarball_log" "$tarball_dir"
  if [ "$tarball" -ne 0 ]; then echo "tarball test failed" >&2; status=1; fi
fi
node scripts/count-tests.mjs || status=1
exit "$status"
