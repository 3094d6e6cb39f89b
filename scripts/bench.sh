#!/usr/bin/env bash
# bench.sh - build acmera and measure it under load with scripts/load:
# CLIENTS concurrent ACME clients (default 32), each doing full http-01
# issuances back to back for WARMUP (default 5s) + DURATION (default 30s),
# against the embedded default started as a child process on loopback.
# Prints the load tool's summary (issuances/s, latency, server CPU per
# issuance, RSS); extra arguments go to the load tool (e.g. -json,
# -reconnect, -poll 0, -env GOGC=200). See scripts/load/RESULTS.md.
#
#   scripts/bench.sh
#   CLIENTS=64 DURATION=60s scripts/bench.sh -json > result.json
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

clients="${CLIENTS:-32}"
duration="${DURATION:-30s}"
warmup="${WARMUP:-5s}"

dir="$(mktemp -d "${TMPDIR:-/tmp}/acmera-bench.XXXXXX")"
trap 'rm -rf "$dir"' EXIT

echo "bench: nproc $(nproc), $(go version)" >&2
echo "bench: go build ./functions/acmera ./scripts/load" >&2
go build -o "$dir/acmera" ./functions/acmera
go build -o "$dir/load" ./scripts/load

echo "bench: load -server acmera -clients $clients -warmup $warmup -duration $duration $*" >&2
"$dir/load" -server "$dir/acmera" -clients "$clients" -warmup "$warmup" -duration "$duration" "$@"
