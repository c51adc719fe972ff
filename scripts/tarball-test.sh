#!/usr/bin/env bash
# Packs every package and, for each one, installs its tarball (with the tarballs of the
# lopt packages it depends on) into a fresh project outside the workspace with npm, then
# runs its smoke check under plain Node ESM, plain Node CJS, and an esbuild bundle: what
# a user who installs that package alone gets.
#
#   scripts/tarball-test.sh --pack DIR    only pack every package into DIR
#   TARBALLS_FROM=DIR scripts/tarball-test.sh   check the tarballs packed there
# (scripts/test.sh packs first, then checks beside the test runs, which may rebuild dist/.)
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
PNPM_VERSION=$(node -p "require('./package.json').packageManager.split('@')[1]")
pack_all() {
  # One recursive pack of them all (pnpm starts once, and packs several at a time).
  local filters=()
  for dir in packages/*/; do
    dir=${dir%/}
    [ -f "$dir/src/index.ts" ] || continue
    filters+=(--filter "./$dir")
  done
  npx -y "pnpm@${PNPM_VERSION}" -r "${filters[@]}" pack --pack-destination "$1" >/dev/null
}
if [ "${1:-}" = "--pack" ]; then
  mkdir -p "$2"
  pack_all "$(cd "$2" && pwd)"
  exit 0
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/tarballs"
packages=()
if [ -n "${TARBALLS_FROM:-}" ]; then
  cp "$TARBALLS_FROM"/*.tgz "$work/tarballs/"
else
  pack_all "$work/tarballs"
fi
# Which packages to check (all by default; TARBALL_PACKAGES="pytree tasks" for a few).
for name in ${TARBALL_PACKAGES:-$(ls "$work/tarballs" | sed -E 's/^lopt-(.*)-[0-9]+\.[0-9]+\.[0-9]+\.tgz$/\1/')}; do
  packages+=("$name")
done

# The @lopt packages a package needs (itself first, then its dependencies, transitively).
deps_of() {
  node -e '
    const fs = require("fs");
    const seen = new Set();
    const visit = (n) => {
      if (seen.has(n)) return;
      seen.add(n);
      const pkg = JSON.parse(fs.readFileSync(`packages/${n}/package.json`, "utf8"));
      for (const d of Object.keys(pkg.dependencies || {})) if (d.startsWith("@lopt/")) visit(d.slice(6));
    };
    visit(process.argv[1]);
    console.log([...seen].join(" "));
  ' "$1"
}

status=0
for name in "${packages[@]}"; do
  smoke="scripts/tarball-smoke/$name.cjs"
  if [ ! -f "$smoke" ]; then echo "tarball: no smoke check for @lopt/$name" >&2; status=1; continue; fi
  app="$work/app-$name"
  mkdir -p "$app"
  tgz=()
  mods="tf: '@tensorflow/tfjs-core'"
  for d in $(deps_of "$name"); do
    tgz+=("$(ls "$work"/tarballs/lopt-"$d"-*.tgz)")
    mods="$mods, $(node -p "JSON.stringify('$d'.replace(/-(.)/g, (_, c) => c.toUpperCase()))"): '@lopt/$d'"
  done
  # Peers the package needs besides tfjs-core (optional ones, the native backends, excluded).
  extra=$(node -e '
    const pkg = JSON.parse(require("fs").readFileSync(`packages/${process.argv[1]}/package.json`, "utf8"));
    const meta = pkg.peerDependenciesMeta || {};
    const peers = Object.keys(pkg.peerDependencies || {}).filter((d) => d !== "@tensorflow/tfjs-core" && !(meta[d] && meta[d].optional));
    console.log(peers.join(" "));
  ' "$name")
  extraInstall=()
  for p in $extra; do
    extraInstall+=("$p@4.22.0")
    mods="$mods, $(node -p "({ '@tensorflow/tfjs-layers': 'tfl' })['$p'] || JSON.stringify('$p')"): '$p'"
  done
  cp "$smoke" "$app/smoke.cjs"
  cp scripts/tarball-smoke/harness.cjs "$app/harness.cjs"
  node -e "
    const fs = require('fs');
    const mods = {$mods};
    const keys = Object.keys(mods);
    fs.writeFileSync('$app/run.mjs', keys.map((k, i) => \`import * as m\${i} from '\${mods[k]}';\`).join('\n') +
      \`\nimport harness from './harness.cjs';\nimport smoke from './smoke.cjs';\nawait harness('$name', process.argv[2] ?? 'esm', smoke, {\${keys.map((k, i) => k + ': m' + i).join(', ')}});\n\`);
    fs.writeFileSync('$app/run.cjs', \`const harness = require('./harness.cjs');\nconst smoke = require('./smoke.cjs');\nharness('$name', 'cjs', smoke, {\${keys.map((k) => k + \": require('\" + mods[k] + \"')\").join(', ')}}).catch((e) => { console.error(e); process.exit(1); });\n\`);
  "
  (
    cd "$app"
    npm init -y >/dev/null
    npm install --no-audit --no-fund --loglevel=error "${tgz[@]}" @tensorflow/tfjs-core@4.22.0 ${extraInstall[@]+"${extraInstall[@]}"} esbuild@0.25 >/dev/null
    node run.mjs esm
    node run.cjs
    npx esbuild run.mjs --bundle --platform=node --format=esm --outfile=bundle.mjs --log-level=error \
      --external:@tensorflow/tfjs-node --external:@tensorflow/tfjs-node-gpu \
      --external:pg --external:@valkey/valkey-glide --external:redis \
      "--banner:js=import { createRequire as __loptCreateRequire } from 'node:module'; const require = __loptCreateRequire(import.meta.url);"
    node bundle.mjs bundled
  ) || { echo "tarball: @lopt/$name failed" >&2; status=1; }
done
[ "$status" -eq 0 ] && echo "tarball: ok (${packages[*]})"
exit "$status"
