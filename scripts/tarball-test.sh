#!/usr/bin/env bash
# Packs every package, installs the tarballs with npm into a fresh project outside the
# workspace, and runs the smoke scripts there under plain Node ESM, plain Node CJS and an
# esbuild bundle: what a user installing the packages from the registry gets.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
PNPM_VERSION=$(node -p "require('./package.json').packageManager.split('@')[1]")
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/tarballs" "$work/app"
for dir in ${TARBALL_PACKAGES:-packages/*/}; do
  [ -f "$dir/src/index.ts" ] || continue
  (cd "$dir" && npx -y "pnpm@${PNPM_VERSION}" pack --pack-destination "$work/tarballs" >/dev/null)
done
cp scripts/tarball-smoke/* "$work/app/"
cd "$work/app"
npm init -y >/dev/null
npm install --no-audit --no-fund --loglevel=error "$work"/tarballs/*.tgz @tensorflow/tfjs-core@4.22.0 esbuild@0.25 >/dev/null
echo "tarball: ESM"; node smoke.mjs
echo "tarball: CJS"; node smoke.cjs
echo "tarball: bundled"; npx esbuild smoke.mjs --bundle --platform=node --format=esm --outfile=bundle.mjs \
  --external:@tensorflow/tfjs-node --external:@tensorflow/tfjs-node-gpu --log-level=warning \
  "--banner:js=import { createRequire } from 'node:module'; const require = createRequire(import.meta.url);"
node bundle.mjs
echo "tarball: ok"
