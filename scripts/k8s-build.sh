#!/usr/bin/env bash
# k8s-build.sh: build, once, what the end-to-end run of the real
# cert-manager controller needs (scripts/e2e/certmanager_controller_test.go)
# and print it as shell assignments for eval:
#
#   eval "$(scripts/k8s-build.sh)"
#   # KUBE_APISERVER_BIN=/root/.cache/acmera/kube-apiserver-v1.34.4/kube-apiserver
#   # CMCONTROLLER_BIN=/root/.cache/acmera/cmcontroller-v1.21.2-<hash>/cmcontroller
#   # CERT_MANAGER_CRDS=/root/go/pkg/mod/github.com/cert-manager/cert-manager@v1.21.2/deploy/crds
#
# kube-apiserver comes from the k8s.io/kubernetes module on the Go module
# proxy: its go.mod replaces every k8s.io/* staging module with
# ./staging/src/..., which the module zip lacks, so the replaces are pointed
# at the published k8s.io/* v0.X.Y modules instead. A cold build takes
# minutes: about 3 on 2 idle cores, 16 measured on 2 cores shared with other
# builds (plus the module downloads); later runs print the cached paths in
# well under a second.
#
# cmcontroller is scripts/cmcontroller, a nested module (its own go.mod, so
# cert-manager's controller and DNS-provider dependencies stay out of the
# project's go.mod) wiring cert-manager's certificates, certificaterequests
# and ACME controllers; cert-manager's own cmd/controller module is not on
# the proxy. Its cache key is the hash of its sources, so an edit rebuilds.
#
# Binaries are cached outside the repository, never committed.
#
# Environment:
#   KUBERNETES_VERSION  k8s.io/kubernetes version (default v1.34.4)
#   ACMERA_CACHE_DIR    where builds are cached (default ${XDG_CACHE_HOME:-$HOME/.cache}/acmera)
#   KUBE_APISERVER_BIN  an existing kube-apiserver to use instead
#   CMCONTROLLER_BIN    an existing cmcontroller to use instead
set -euo pipefail

die() { echo "k8s-build: $*" >&2; exit 1; }

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
k8s_version="${KUBERNETES_VERSION:-v1.34.4}"
cache_root="${ACMERA_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/acmera}"
command -v go >/dev/null || die "go not found on PATH"

work="$(mktemp -d "${TMPDIR:-/tmp}/acmera-k8s-build.XXXXXX")"
trap 'chmod -R u+w "$work" 2>/dev/null; rm -rf "$work"' EXIT

# moddir MODULE@VERSION: the module's directory in the module cache.
moddir() {
	local dir
	dir="$(cd "$work" && GOFLAGS=-mod=mod GOWORK=off go mod download -json "$1" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')"
	[[ -n "$dir" && -d "$dir" ]] || die "go mod download $1 gave no directory"
	echo "$dir"
}

# locked CACHE BIN BUILDFN: run BUILDFN once per cache directory (flock),
# unless BIN exists.
locked() {
	local cache="$1" bin="$2" fn="$3"
	[[ -x "$bin" ]] && return 0
	mkdir -p "$cache"
	exec 9>"$cache/.lock"
	flock 9
	if [[ ! -x "$bin" ]]; then
		local start=$SECONDS
		"$fn" "$bin" || die "$fn failed"
		echo "k8s-build: built $bin in $((SECONDS - start))s" >&2
	fi
	exec 9>&-
}

build_apiserver() {
	local bin="$1" src="$work/kubernetes" minor="v0.${k8s_version#v1.}" r
	echo "k8s-build: building k8s.io/kubernetes@$k8s_version ./cmd/kube-apiserver (staging at $minor); this takes minutes" >&2
	cp -r "$(moddir "k8s.io/kubernetes@$k8s_version")" "$src"
	chmod -R u+w "$src"
	# go.mod lines "k8s.io/api => ./staging/src/k8s.io/api", in or out of a replace block.
	for r in $(sed -n 's#^[[:space:]]*\(replace[[:space:]]*\)\{0,1\}\(k8s\.io/[^[:space:]]*\)[[:space:]]*=>[[:space:]]*\./staging/.*#\2#p' "$src/go.mod"); do
		(cd "$src" && go mod edit -replace="$r=$r@$minor")
	done
	if grep -q '=> \./staging' "$src/go.mod"; then die "k8s.io/kubernetes@$k8s_version go.mod still replaces staging modules"; fi
	(cd "$src" && GOWORK=off GOFLAGS=-mod=mod CGO_ENABLED=0 go build -trimpath -o "$bin.tmp" ./cmd/kube-apiserver) >&2 || return 1
	mv "$bin.tmp" "$bin"
}

build_cmcontroller() {
	local bin="$1"
	echo "k8s-build: building scripts/cmcontroller" >&2
	(cd "$root/scripts/cmcontroller" && GOWORK=off CGO_ENABLED=0 go build -trimpath -o "$bin.tmp" .) >&2 || return 1
	mv "$bin.tmp" "$bin"
}

if [[ -n "${KUBE_APISERVER_BIN:-}" ]]; then
	[[ -x "$KUBE_APISERVER_BIN" ]] || die "KUBE_APISERVER_BIN=$KUBE_APISERVER_BIN is not an executable file"
	apiserver="$KUBE_APISERVER_BIN"
else
	cache="$cache_root/kube-apiserver-$k8s_version"
	apiserver="$cache/kube-apiserver"
	locked "$cache" "$apiserver" build_apiserver
fi

cm_dir="$root/scripts/cmcontroller"
[[ -f "$cm_dir/go.mod" ]] || die "$cm_dir/go.mod is missing"
cm_version="$(cd "$cm_dir" && GOWORK=off go list -m -f '{{.Version}}' github.com/cert-manager/cert-manager)"
if [[ -n "${CMCONTROLLER_BIN:-}" ]]; then
	[[ -x "$CMCONTROLLER_BIN" ]] || die "CMCONTROLLER_BIN=$CMCONTROLLER_BIN is not an executable file"
	cmcontroller="$CMCONTROLLER_BIN"
else
	hash="$(cd "$cm_dir" && cat go.mod go.sum ./*.go | sha256sum | cut -c1-12)"
	cache="$cache_root/cmcontroller-$cm_version-$hash"
	cmcontroller="$cache/cmcontroller"
	locked "$cache" "$cmcontroller" build_cmcontroller
fi

crds="$(moddir "github.com/cert-manager/cert-manager@$cm_version")/deploy/crds"
[[ -f "$crds/cert-manager.io_certificates.yaml" ]] || die "no cert-manager CRDs in $crds"

printf 'KUBE_APISERVER_BIN=%q\nCMCONTROLLER_BIN=%q\nCERT_MANAGER_CRDS=%q\n' "$apiserver" "$cmcontroller" "$crds"
