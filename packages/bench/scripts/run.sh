#!/usr/bin/env bash
# Runs a bench script with every Node process of the bench (homing, the bare pipe, nginx's
# auth_http service and the load generator) on Node.js $BENCH_NODE: by default 24, the LTS that
# homing's container image ships (Node 20 reached its end of life on 2026-04-30), fetched once
# from the npm registry; BENCH_NODE=system runs them on the `node` on PATH.
set -euo pipefail
cd "$(dirname "$0")/.."

release="${BENCH_NODE:-24}"
if [ "$release" != system ]; then
  bin="$(bash ../../scripts/node-release.sh "$release")"
  PATH="$bin:$PATH"
fi
exec npx tsx "$@"
