#!/usr/bin/env bash
# test.sh: the one command that runs every check of acmera, on a fresh
# Debian machine too.
#
#   0. scripts/setup.sh: installs the Debian packages the tests need (as
#      root or with passwordless sudo), or says exactly what is missing and
#      how to get it (ACMERA_SETUP=0 skips it)
#   1. gofmt (fails on any unformatted file)
#   2. go vet ./..., and in the nested module scripts/cmcontroller
#   3. the Firestore emulator (scripts/firestore-emulator.sh), so the store
#      conformance suite also runs on pkg/store/firestore, and a Vault
#      server binary (scripts/vault-build.sh, built once and cached; VAULT_BIN
#      set in the environment skips the build) for pkg/ca/vault, the
#      lego CLI and Caddy (scripts/lego-build.sh, scripts/caddy-build.sh,
#      likewise cached; LEGO_BIN and CADDY_BIN skip the builds), and
#      kube-apiserver plus scripts/cmcontroller (the real cert-manager
#      controllers) from scripts/k8s-build.sh, built once and cached, for
#      scripts/e2e's TestCertManagerController
#   4. go test -count=1 ./... (unit tests, the conformance suite, the
#      end-to-end runs of certbot, lego, Caddy, x/crypto/acme, cert-manager's
#      client and the real cert-manager controller in scripts/e2e), then -race on a
#      concurrency-heavy subset
#   5. each native fuzz target (func FuzzXxx in pkg/ and functions/) for
#      ACMERA_FUZZ_TIME, one at a time (go test -fuzz takes one package and
#      one target); a failing input is written to the package's
#      testdata/fuzz/FuzzXxx/ for go test to replay
#   6. scripts/terraform-check.sh
#
# Every step runs even if an earlier one failed; the script exits non-zero
# if any failed and lists which. The emulator is stopped on exit.
#
# Environment:
#   GO_TEST_TIMEOUT   go test -timeout (default 30m)
#   GO_TEST_FLAGS     extra go test flags (e.g. -v)
#   ACMERA_TEST_RACE  0 skips the -race pass (default 1)
#   ACMERA_FUZZ_TIME  -fuzztime per fuzz target (default 15s); 0 skips fuzzing
#   CI                true makes the certbot, lego, Caddy and Vault tests fail
#                     (not skip) without their binaries
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

timeout="${GO_TEST_TIMEOUT:-30m}"
read -r -a extra <<<"${GO_TEST_FLAGS:-}"
# Packages whose tests exercise concurrency (store races, queues, nonces).
race_pkgs=(./pkg/store/bolt/... ./pkg/queue/inproc/... ./pkg/nonce/... ./pkg/ra/... ./pkg/wfe/... ./scripts/testdns/...)

failed=()
fail() { failed+=("$1"); echo "test.sh: FAIL: $1" >&2; }
step() { echo; echo "== $*"; }

work="$(mktemp -d "${TMPDIR:-/tmp}/acmera-test.XXXXXX")"
emulator_started=0
cleanup() {
	if [[ $emulator_started == 1 ]]; then
		FIRESTORE_STATE_DIR="$work/firestore" scripts/firestore-emulator.sh stop || true
	fi
	rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# gotest LOG ARGS...: run go test with its output streamed and kept in
# LOG, then print its summary: one line per package, and the failed tests.
gotest() {
	local log="$1" rc
	shift
	set +e
	go test "$@" 2>&1 | tee "$log"
	rc=${PIPESTATUS[0]}
	set -e
	echo "-- summary (go test $*):"
	grep -E '^(ok|FAIL|panic:)|^--- FAIL|^\s+--- FAIL|\[(build|setup) failed\]' "$log" || true
	return "$rc"
}

step "setup (scripts/setup.sh)"
# Installs the Debian packages the tests need when they are missing (or
# says what is missing and how to get them); ACMERA_SETUP=0 skips it.
export PATH="$PATH:/usr/sbin:/sbin" # krb5kdc, kadmin.local, named
if [[ "${ACMERA_SETUP:-1}" != 0 ]]; then
	scripts/setup.sh || fail "scripts/setup.sh"
fi

step "gofmt -l"
go_files() {
	git ls-files -z --cached --others --exclude-standard -- '*.go' 2>/dev/null ||
		find . -name '*.go' -not -path './.git/*' -print0
}
unformatted="$(go_files | xargs -0 -r gofmt -l)"
if [[ -n "$unformatted" ]]; then
	echo "$unformatted"
	fail "gofmt: the files above need gofmt -w"
else
	echo "ok"
fi

step "go vet ./..."
go vet ./... || fail "go vet"
# A nested module (cert-manager's controller dependencies stay out of go.mod).
(cd scripts/cmcontroller && GOWORK=off go vet ./...) || fail "go vet (scripts/cmcontroller)"

step "Firestore emulator"
if [[ -x scripts/firestore-emulator.sh ]]; then
	# Our own state directory, so we never reuse or stop someone else's emulator.
	if exports="$(FIRESTORE_STATE_DIR="$work/firestore" scripts/firestore-emulator.sh start)"; then
		emulator_started=1
		eval "$exports"
		export FIRESTORE_EMULATOR_HOST
		echo "FIRESTORE_EMULATOR_HOST=$FIRESTORE_EMULATOR_HOST"
	else
		fail "firestore emulator did not start (the Firestore store tests would be skipped)"
	fi
else
	# Marked step: runs as soon as scripts/firestore-emulator.sh exists.
	fail "scripts/firestore-emulator.sh is missing: the Firestore store tests cannot run"
fi

step "Vault server binary (scripts/vault-build.sh)"
# pkg/ca/vault and the Vault end-to-end tests run a real Vault dev server.
# The first build takes minutes; it is cached outside the repository.
if vault_bin="$(scripts/vault-build.sh)"; then
	export VAULT_BIN="$vault_bin"
	echo "VAULT_BIN=$VAULT_BIN ($("$VAULT_BIN" version 2>/dev/null || echo '?'))"
else
	fail "scripts/vault-build.sh: no Vault binary (the Vault tests fail without one in CI)"
fi

# client_bin NAME VAR SCRIPT VERSION-ARGS...: build (or find in the cache)
# a client for the end-to-end tests with SCRIPT, export VAR, and say how
# long it took.
client_bin() {
	local name="$1" var="$2" script="$3" start=$SECONDS bin
	shift 3
	step "$name binary ($script)"
	if bin="$("$script")"; then
		export "$var=$bin"
		echo "$var=$bin ($("$bin" "$@" 2>/dev/null | head -n 1 || echo '?')); $((SECONDS - start)) s"
	else
		fail "$script: no $name binary (the $name e2e test fails without one in CI)"
	fi
}
# The lego CLI and Caddy are real clients of scripts/e2e; each first build
# takes minutes and is cached outside the repository.
client_bin lego LEGO_BIN scripts/lego-build.sh --version
client_bin Caddy CADDY_BIN scripts/caddy-build.sh version

step "kube-apiserver and the cert-manager controller (scripts/k8s-build.sh)"
# TestCertManagerController runs etcd, kube-apiserver (k8s.io/kubernetes from
# the module proxy) and scripts/cmcontroller (cert-manager's controllers, a
# nested module). The first build takes minutes; both are cached outside
# the repository by version (cmcontroller by a hash of its sources).
k8s_start=$SECONDS
if k8s_env="$(scripts/k8s-build.sh)"; then
	eval "$k8s_env"
	export KUBE_APISERVER_BIN CMCONTROLLER_BIN CERT_MANAGER_CRDS
	echo "$k8s_env"
	echo "(scripts/k8s-build.sh took $((SECONDS - k8s_start))s)"
else
	fail "scripts/k8s-build.sh: no kube-apiserver or cmcontroller (TestCertManagerController fails without them in CI)"
fi

step "go test -count=1 -timeout $timeout ./..."
gotest "$work/test.log" -count=1 -timeout "$timeout" "${extra[@]}" ./... || fail "go test ./..."

if [[ "${ACMERA_TEST_RACE:-1}" != 0 ]]; then
	pkgs=()
	for p in "${race_pkgs[@]}"; do [[ -d "${p%/...}" ]] && pkgs+=("$p"); done
	if ((${#pkgs[@]})); then
		step "go test -race -count=1 ${pkgs[*]}"
		gotest "$work/race.log" -race -count=1 -timeout "$timeout" "${extra[@]}" "${pkgs[@]}" || fail "go test -race"
	fi
fi

# fuzz_targets prints "package-dir FuzzName" for every fuzz target.
fuzz_targets() {
	grep -rEo --include='*_test.go' '^func Fuzz[A-Za-z0-9_]*\(f \*testing\.F\)' pkg functions 2>/dev/null |
		sed -E 's#^(.*)/[^/:]*:func (Fuzz[A-Za-z0-9_]*).*#./\1 \2#' | sort -u
}

fuzz_time="${ACMERA_FUZZ_TIME:-15s}"
if [[ $fuzz_time != 0 && $fuzz_time != 0s ]]; then
	while read -r pkg target; do
		step "go test -run '^\$' -fuzz '^$target\$' -fuzztime $fuzz_time $pkg"
		go test -run '^$' -fuzz "^$target\$" -fuzztime "$fuzz_time" "$pkg" </dev/null || fail "fuzz $target ($pkg)"
	done < <(fuzz_targets)
else
	step "fuzzing skipped (ACMERA_FUZZ_TIME=$fuzz_time)"
fi

step "terraform checks"
if [[ -x scripts/terraform-check.sh ]]; then
	scripts/terraform-check.sh || fail "scripts/terraform-check.sh"
else
	echo "scripts/terraform-check.sh not present: skipped"
fi

echo
if ((${#failed[@]})); then
	echo "test.sh: ${#failed[@]} step(s) failed:" >&2
	printf '  - %s\n' "${failed[@]}" >&2
	exit 1
fi
echo "test.sh: all checks passed"
