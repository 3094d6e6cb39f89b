#!/usr/bin/env bash
# vault-build.sh: print the path of a HashiCorp Vault server binary for the
# tests of pkg/ca/vault, building it from the Go module proxy the first time.
#
#   scripts/vault-build.sh            # prints e.g. /root/.cache/acmera/vault-v1.21.1/vault
#
# Vault is BUSL-1.1: the binary is built here for tests and cached outside
# the repository, never committed. The build is Vault's "minimal" tag set
# (core, the builtin PKI secrets engine, JWT and AppRole auth). A cold build
# takes 4-16 minutes on 2 cores and about 3 GB of memory; later runs print
# the cached path at once.
#
# Environment:
#   VAULT_VERSION     the module version (default v1.21.1; newer v1.21.x tags
#                     do not build against any published sdk)
#   ACMERA_CACHE_DIR  where builds are cached (default ${XDG_CACHE_HOME:-$HOME/.cache}/acmera)
#   VAULT_BIN         an existing binary to use instead (printed as is)
set -euo pipefail

die() { echo "vault-build: $*" >&2; exit 1; }

if [[ -n "${VAULT_BIN:-}" ]]; then
	[[ -x "$VAULT_BIN" ]] || die "VAULT_BIN=$VAULT_BIN is not an executable file"
	echo "$VAULT_BIN"
	exit 0
fi

version="${VAULT_VERSION:-v1.21.1}"
cache="${ACMERA_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/acmera}/vault-$version"
bin="$cache/vault"
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

work="$(mktemp -d "${TMPDIR:-/tmp}/acmera-vault-build.XXXXXX")"
trap 'chmod -R u+w "$work" 2>/dev/null; rm -rf "$work"' EXIT
echo "vault-build: building github.com/hashicorp/vault@$version (minimal) in $work; this takes minutes" >&2

# The module zip lacks the nested modules its go.mod replaces point at:
# copy it somewhere writable and drop those replaces, so the published
# versions it requires are used.
dir="$(cd "$work" && GOFLAGS=-mod=mod go mod download -json "github.com/hashicorp/vault@$version" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')"
[[ -n "$dir" && -d "$dir" ]] || die "go mod download github.com/hashicorp/vault@$version gave no directory"
cp -r "$dir" "$work/src"
chmod -R u+w "$work/src"
cd "$work/src"
for r in $(go mod edit -json | sed -n 's/^[[:space:]]*"Path": "\(github.com\/hashicorp\/vault\/[^"]*\)".*/\1/p' | sort -u); do
	go mod edit -dropreplace="$r" 2>/dev/null || true
done
GOWORK=off GOFLAGS=-mod=mod CGO_ENABLED=0 go build -tags minimal -trimpath -o "$bin.tmp" . >&2 ||
	die "go build of vault $version failed"
mv "$bin.tmp" "$bin"
echo "$bin"
