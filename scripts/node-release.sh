#!/usr/bin/env bash
# Prints the directory holding the `node` binary of a Node.js release (a major such as 24, or an
# npm range such as ^20.19). The binaries come from the npm registry's `node` package and are kept
# under node_modules/.cache/node-majors, so only the first use downloads one.
set -euo pipefail
cd "$(dirname "$0")/.."

spec="${1:?usage: node-release.sh MAJOR|RANGE}"
major="${spec#^}"
major="${major%%.*}"
dir="node_modules/.cache/node-majors/$major"
if [ ! -x "$dir/node_modules/node/bin/node" ]; then
  echo "fetching node@$spec from the npm registry" >&2
  mkdir -p "$dir"
  (cd "$dir" && echo '{"private":true}' > package.json &&
    npm install --no-audit --no-fund --no-save --loglevel=error "node@$spec" >/dev/null)
fi
cd "$dir/node_modules/node/bin" && pwd
