#!/usr/bin/env bash
# caddy-build.sh: print the path of a Caddy binary for the Caddy end-to-end
# test (scripts/e2e/caddy_test.go), building it from the Go module proxy the
# first time (github.com/caddyserver/caddy/v2 at VERSION, its ./cmd/caddy;
# 2-11 minutes cold on 2 cores: 102 s compiling alone, 646 s downloading
# and compiling beside other builds) and caching it outside
# the repository (scripts/go-build-cached.sh). Later runs print the cached
# path at once.
#
#   scripts/caddy-build.sh            # prints e.g. /root/.cache/acmera/caddy-v2.11.9/caddy
#
# Environment:
#   CADDY_VERSION     the module version (default v2.11.9)
#   ACMERA_CACHE_DIR  where builds are cached (default ${XDG_CACHE_HOME:-$HOME/.cache}/acmera)
#   CADDY_BIN         an existing binary to use instead (printed as is)
set -euo pipefail

if [[ -n "${CADDY_BIN:-}" ]]; then
	[[ -x "$CADDY_BIN" ]] || { echo "caddy-build: CADDY_BIN=$CADDY_BIN is not an executable file" >&2; exit 1; }
	echo "$CADDY_BIN"
	exit 0
fi
version="${CADDY_VERSION:-v2.11.9}"
# Built as the main module, Caddy cannot read its version from the build
# info; CustomVersion makes `caddy version` print it.
exec "$(dirname "${BASH_SOURCE[0]}")/go-build-cached.sh" caddy github.com/caddyserver/caddy/v2 "$version" ./cmd/caddy \
	-ldflags="-X github.com/caddyserver/caddy/v2.CustomVersion=$version"
