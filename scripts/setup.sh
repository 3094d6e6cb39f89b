#!/usr/bin/env bash
# setup.sh: install what scripts/test.sh needs on a fresh Debian machine,
# or say exactly what is missing and how to get it. scripts/test.sh runs it
# first (ACMERA_SETUP=0 skips it), so the README's test command is the one
# command to run.
#
# It installs Debian packages (apt-get, as root or with passwordless sudo)
# when something is missing: certbot, curl, jq, git, MIT Kerberos
# (krb5-kdc, krb5-admin-server, krb5-user), etcd-server, bind9, chromium,
# the Firestore emulator (google-cloud-cli-firestore-emulator, from the
# Google Cloud SDK apt repository) and a JRE. Without the rights to
# install it lists what is missing with the command to install it, and
# exits 1 with CI=true (in CI a missing tool must fail, not skip) or 0
# otherwise (the tests that need a missing tool skip).
# Go 1.26 and terraform are not Debian packages here: it checks them and
# says where to get them.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
export DEBIAN_FRONTEND=noninteractive

die() { echo "setup: $*" >&2; exit 1; }

command -v go >/dev/null || die "go not found on PATH: install Go 1.26 (https://go.dev/dl/)"

command -v terraform >/dev/null || echo "setup: terraform not found on PATH: the Terraform checks need it (https://developer.hashicorp.com/terraform/install)" >&2

sudo=()
can_install=1
if [[ $(id -u) != 0 ]]; then
	if command -v sudo >/dev/null && sudo -n true 2>/dev/null; then
		sudo=(sudo -n)
	else
		can_install=0
	fi
fi

apt_updated=0
apt_install() {
	if [[ $apt_updated == 0 ]]; then
		"${sudo[@]}" apt-get update </dev/null
		apt_updated=1
	fi
	"${sudo[@]}" apt-get install -y --no-install-recommends "$@" </dev/null
}

emulator_jar() {
	dpkg -L google-cloud-cli-firestore-emulator 2>/dev/null | grep -m1 '/cloud-firestore-emulator\.jar$' || true
}

missing=()
command -v certbot >/dev/null || missing+=(certbot)
command -v curl >/dev/null || missing+=(curl) # certbot dns-01 hooks
command -v jq >/dev/null || missing+=(jq)     # scripts/terraform-check.sh
command -v git >/dev/null || missing+=(git)   # scripts/test.sh lists Go files
command -v chromium >/dev/null || missing+=(chromium) # scripts/e2e admin page, headless
# The AD CS tests run a real MIT KDC on loopback (scripts/fakeadcs/mitkdc);
# its tools live in sbin, which a non-root PATH may lack.
export PATH="$PATH:/usr/sbin:/sbin"
if ! command -v krb5kdc >/dev/null || ! command -v kadmin.local >/dev/null || ! command -v kinit >/dev/null; then
	missing+=(krb5-kdc krb5-admin-server krb5-user)
fi
# The real cert-manager controller's e2e run (scripts/e2e/cmcontroller_test.go):
# etcd under kube-apiserver, BIND 9 as the RFC 2136 dns01 target.
command -v etcd >/dev/null || missing+=(etcd-server)
command -v named >/dev/null || [[ -x /usr/sbin/named ]] || missing+=(bind9)
[[ -n "$(emulator_jar)" ]] || missing+=(google-cloud-cli-firestore-emulator)
command -v java >/dev/null || missing+=(default-jre-headless)
if ((${#missing[@]})) && [[ $can_install == 0 ]]; then
	echo "setup: missing Debian packages: ${missing[*]}" >&2
	echo "setup: install them with: sudo apt-get install -y --no-install-recommends ${missing[*]}" >&2
	echo "setup: (google-cloud-cli-firestore-emulator is in the Google Cloud SDK apt repository: packages.cloud.google.com/apt cloud-sdk main)" >&2
	if [[ "${CI:-}" == true ]]; then
		die "CI=true and not allowed to install: the tests that need them would fail"
	fi
	echo "setup: the tests that need them will skip" >&2
	exit 0
fi
# The emulator and the JRE come after the rest (their own apt source).
rest=()
for p in "${missing[@]}"; do
	case $p in google-cloud-cli-firestore-emulator | default-jre-headless) ;; *) rest+=("$p") ;; esac
done
if ((${#rest[@]})); then
	echo "setup: installing ${rest[*]}"
	apt_install "${rest[@]}"
fi

if [[ -z "$(emulator_jar)" ]]; then
	echo "setup: installing google-cloud-cli-firestore-emulator"
	if [[ $apt_updated == 0 ]]; then
		"${sudo[@]}" apt-get update </dev/null
		apt_updated=1
	fi
	apt-cache show google-cloud-cli-firestore-emulator >/dev/null 2>&1 ||
		die "google-cloud-cli-firestore-emulator is not in any apt source: add the Google Cloud SDK apt repository (packages.cloud.google.com/apt cloud-sdk main)"
	apt_install google-cloud-cli-firestore-emulator
	[[ -n "$(emulator_jar)" ]] || die "google-cloud-cli-firestore-emulator installed but cloud-firestore-emulator.jar not found (dpkg -L google-cloud-cli-firestore-emulator)"
fi
command -v java >/dev/null || apt_install default-jre-headless

for tool in certbot curl jq java chromium krb5kdc kadmin.local kdb5_util etcd; do
	command -v "$tool" >/dev/null || die "$tool still missing after apt-get install"
done
command -v named >/dev/null || [[ -x /usr/sbin/named ]] || die "named still missing after apt-get install bind9"
echo "setup: certbot $(certbot --version 2>&1 | awk '{print $2}'), emulator jar $(emulator_jar)"

echo "setup: ok"
