#!/usr/bin/env bash
# bench.sh - build acmera and measure it under load with scripts/load:
# for each client count in CLIENTS (default "1 8 32"), that many concurrent
# ACME clients each do full http-01 issuances back to back for WARMUP
# (default 5s) + DURATION (default 30s), against the embedded default
# (durable bbolt, in-process queue, local CA) started as a child process
# on loopback with a fresh data directory. Clients use x/crypto/acme's
# WaitAuthorization (-poll 0: poll at once, then honour Retry-After), as
# real clients do; the server holds a poll of a processing authorization
# until its result.
#
# Prints each run's summary on stderr, then one Markdown table of all runs
# with the machine it ran on (nproc, CPU model, Go version) on stdout.
# Extra arguments go to every load run (e.g. -reconnect, -poll 20ms, -env
# GOGC=200). See scripts/load/RESULTS.md.
#
#   scripts/bench.sh
#   CLIENTS="32" DURATION=60s scripts/bench.sh
#   CLIENTS="1 8 32 64" scripts/bench.sh -reconnect
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

clients="${CLIENTS:-1 8 32}"
duration="${DURATION:-30s}"
warmup="${WARMUP:-5s}"

dir="$(mktemp -d "${TMPDIR:-/tmp}/acmera-bench.XXXXXX")"
trap 'rm -rf "$dir"' EXIT

echo "bench: nproc $(nproc), $(grep -m1 'model name' /proc/cpuinfo 2>/dev/null | cut -d: -f2- | sed 's/^ *//'), $(go version)" >&2
echo "bench: go build ./functions/acmera ./scripts/load" >&2
go build -o "$dir/acmera" ./functions/acmera
go build -o "$dir/load" ./scripts/load

results=()
for c in $clients; do
	echo "bench: load -server acmera -clients $c -warmup $warmup -duration $duration -poll 0 $*" >&2
	"$dir/load" -server "$dir/acmera" -clients "$c" -warmup "$warmup" -duration "$duration" -poll 0 "$@" -json >"$dir/c$c.json"
	results+=("$dir/c$c.json")
done
"$dir/load" -table "${results[@]}"
