#!/usr/bin/env bash
# Sets up the workspace from scratch and runs the test suite over the backend matrix (the
# README's test command): every package on wasm, every package on cpu, and once more with
# the fast paths off (plain ops only, LOPT_FAST_PATHS=off). Each leg writes its own vitest
# JSON report (.vitest-results.<leg>.json); the last line counts them all.
# The docs site's browser test runs in the wasm leg only, the apps' end-to-end tests in the
# wasm and cpu legs, and tests marked slow (LOPT_SLOW_TESTS=off) and Celo2's quality runs on
# real data (LOPT_CELO2_QUALITY=1) in the wasm leg only; see the README's "Backend matrix".
set -uo pipefail
cd "$(dirname "$0")/.."
PNPM_VERSION=$(node -p "require('./package.json').packageManager.split('@')[1]")
pnpm() { npx -y "pnpm@${PNPM_VERSION}" "$@"; }
# Debian packages the tests use (Chromium, redis-server, the jargon-text corpus): installed when missing.
bash scripts/ci-system-deps.sh || exit 1
pnpm install --frozen-lockfile || exit 1
pnpm turbo run build --concurrency=2 --output-logs=errors-only || exit 1

rm -f packages/*/.vitest-results*.json apps/*/.vitest-results*.json
status=0
t_all=$SECONDS
leg() {
  local name=$1 vars=$2 args=${3:-}
  echo "== test leg ${name}: ${vars} ${args}"
  local t0=$SECONDS
  # shellcheck disable=SC2086 # vars and args are word lists
  env LOPT_TEST_LEG="$name" $vars npx -y "pnpm@${PNPM_VERSION}" turbo run test --concurrency=2 --continue --force \
    --output-logs=errors-only $args || status=1
  echo "== test leg ${name}: $((SECONDS - t0)) s"
}
leg wasm "LOPT_BACKEND=wasm LOPT_CELO2_QUALITY=1"
leg cpu "LOPT_BACKEND=cpu LOPT_SLOW_TESTS=off" "--filter=!@lopt/docs"
leg plain "LOPT_BACKEND=wasm LOPT_FAST_PATHS=off LOPT_SLOW_TESTS=off" "--filter=./packages/*"
echo "== test legs: $((SECONDS - t_all)) s"
node scripts/count-tests.mjs || status=1
exit "$status"
