#!/usr/bin/env bash
# go-build-cached.sh: print the path of a third-party Go command built from
# the Go module proxy, building it the first time and caching it outside the
# repository by version. It is the shared body of scripts/lego-build.sh and
# scripts/caddy-build.sh.
#
#   scripts/go-build-cached.sh NAME MODULE VERSION PKGDIR [GO-BUILD-FLAGS...]
#   # e.g. lego github.com/go-acme/lego/v4 v4.25.2 ./cmd/lego
#   # prints /root/.cache/acmera/lego-v4.25.2/lego
#
# It downloads the module at that exact version (go mod download), copies
# it somewhere writable and builds PKGDIR inside it, so the command's own
# go.mod and go.sum pick its dependencies and acmera's go.mod never gains
# it. (`go install MODULE/PKG@VERSION` would be shorter, but it also reads
# the module's version list for deprecations, which the proxy refuses for
# lego.) A build's messages and timing go to stderr; stdout is the path.
#
# Environment:
#   ACMERA_CACHE_DIR  where builds are cached (default ${XDG_CACHE_HOME:-$HOME/.cache}/acmera)
set -euo pipefail

[[ $# -ge 4 ]] || { echo "usage: $0 NAME MODULE VERSION PKGDIR [GO-BUILD-FLAGS...]" >&2; exit 2; }
name="$1" mod="$2" version="$3" pkgdir="$4"
shift 4
die() { echo "$name-build: $*" >&2; exit 1; }

cache="${ACMERA_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/acmera}/$name-$version"
bin="$cache/$name"
if [[ -x "$bin" ]]; then
	echo "$bin"
	exit 0
fi
command -v go >/dev/null || die "go not found on PATH"
mkdir -p "$cache"

# One build at a time per cache directory.
exec 9>"$cache/.lock"
flock 9
if [[ -x "$bin" ]]; then
	echo "$bin"
	exit 0
fi

work="$(mktemp -d "${TMPDIR:-/tmp}/acmera-$name-build.XXXXXX")"
trap 'chmod -R u+w "$work" 2>/dev/null; rm -rf "$work"' EXIT
echo "$name-build: building $mod@$version $pkgdir into $cache; the first build takes minutes" >&2
start=$SECONDS
export GOWORK=off GOFLAGS=-mod=mod CGO_ENABLED=0
# From a directory outside any module, so no go.mod or go.work applies.
dir="$(cd "$work" && go mod download -json "$mod@$version" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')"
[[ -n "$dir" && -d "$dir" ]] || die "go mod download $mod@$version gave no directory"
cp -r "$dir" "$work/src"
chmod -R u+w "$work/src"
(cd "$work/src" && go build -trimpath "$@" -o "$bin.tmp" "$pkgdir") >&2 || die "go build of $mod@$version $pkgdir failed"
mv "$bin.tmp" "$bin"
echo "$name-build: built $bin in $((SECONDS - start)) s" >&2
echo "$bin"
