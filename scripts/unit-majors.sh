#!/usr/bin/env bash
# Runs the unit tests on every Node.js major homing supports, other than the one running this
# (which runs the whole suite). The binaries come from the npm registry's `node` package and are
# kept under node_modules/.cache/node-majors, so a second run needs no download.
set -euo pipefail
cd "$(dirname "$0")/.."

# The oldest supported release (package.json engines) and each later LTS or current major.
majors=("^20.19" 22 24 26)
current="$(node -p 'process.versions.node.split(".")[0]')"
cache="node_modules/.cache/node-majors"

for spec in "${majors[@]}"; do
  major="${spec#^}"
  major="${major%%.*}"
  [ "$major" = "$current" ] && continue
  dir="$cache/$major"
  if [ ! -x "$dir/node_modules/node/bin/node" ]; then
    echo "unit-majors: fetching node@$spec"
    mkdir -p "$dir"
    (cd "$dir" && echo '{"private":true}' > package.json &&
      npm install --no-audit --no-fund --no-save --loglevel=error "node@$spec" >/dev/null)
  fi
  bin="$(cd "$dir/node_modules/node/bin" && pwd)"
  echo "unit-majors: unit tests on Node.js $("$bin/node" -v)"
  PATH="$bin:$PATH" npx vitest run --project unit
done
