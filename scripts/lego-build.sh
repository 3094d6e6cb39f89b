#!/usr/bin/env bash
# lego-build.sh: print the path of a lego ACME client binary for the lego
# end-to-end test (scripts/e2e/lego_test.go), building it from the Go module
# proxy the first time (github.com/go-acme/lego/v4 at VERSION, its ./cmd/lego;
# 4-12 minutes cold on 2 cores: 235 s compiling alone, 694 s downloading
# and compiling beside other builds) and caching it outside
# the repository (scripts/go-build-cached.sh). Later runs print the cached
# path at once.
#
#   scripts/lego-build.sh             # prints e.g. /root/.cache/acmera/lego-v4.25.2/lego
#
# Environment:
#   LEGO_VERSION      the module version (default v4.25.2, the tag the
#                     module proxy serves here)
#   ACMERA_CACHE_DIR  where builds are cached (default ${XDG_CACHE_HOME:-$HOME/.cache}/acmera)
#   LEGO_BIN          an existing binary to use instead (printed as is)
set -euo pipefail

if [[ -n "${LEGO_BIN:-}" ]]; then
	[[ -x "$LEGO_BIN" ]] || { echo "lego-build: LEGO_BIN=$LEGO_BIN is not an executable file" >&2; exit 1; }
	echo "$LEGO_BIN"
	exit 0
fi
exec "$(dirname "${BASH_SOURCE[0]}")/go-build-cached.sh" lego github.com/go-acme/lego/v4 "${LEGO_VERSION:-v4.25.2}" ./cmd/lego
