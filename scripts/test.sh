#!/usr/bin/env bash
# Sets up the workspace from scratch and runs every package's tests (the README's test command).
set -euo pipefail
cd "$(dirname "$0")/.."
PNPM_VERSION=$(node -p "require('./package.json').packageManager.split('@')[1]")
pnpm() { npx -y "pnpm@${PNPM_VERSION}" "$@"; }
pnpm install --frozen-lockfile
pnpm turbo run build test --concurrency=2 --output-logs=errors-only
