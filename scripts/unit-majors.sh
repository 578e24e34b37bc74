#!/usr/bin/env bash
# Runs the unit tests on every Node.js major homing supports, other than the one running this
# (which runs the whole suite).
set -euo pipefail
cd "$(dirname "$0")/.."

# The oldest supported release (package.json engines) and each later LTS or current major.
majors=("^20.19" 22 24 26)
current="$(node -p 'process.versions.node.split(".")[0]')"

for spec in "${majors[@]}"; do
  major="${spec#^}"
  major="${major%%.*}"
  [ "$major" = "$current" ] && continue
  bin="$(bash scripts/node-release.sh "$spec")"
  echo "unit-majors: unit tests on Node.js $("$bin/node" -v)"
  PATH="$bin:$PATH" npx vitest run --project unit
done
