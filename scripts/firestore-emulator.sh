#!/usr/bin/env bash
# firestore-emulator.sh: start or stop a local Cloud Firestore emulator for
# tests of pkg/store/firestore.
#
#   scripts/firestore-emulator.sh start   # prints: export FIRESTORE_EMULATOR_HOST=127.0.0.1:PORT
#   scripts/firestore-emulator.sh stop
#
# Environment:
#   FIRESTORE_PORT        port to listen on (default: a free port)
#   FIRESTORE_PROJECT     project ID (default: acmera-test)
#   FIRESTORE_EMULATOR_JAR  path to cloud-firestore-emulator.jar (default: found
#                         via dpkg, then the usual SDK locations)
#   FIRESTORE_STATE_DIR   where the pid and log files go (default: ${TMPDIR:-/tmp}/acmera-firestore-emulator)
#   FIRESTORE_WAIT_SECONDS  readiness timeout (default: 30)
#
# Usage in a shell: eval "$(scripts/firestore-emulator.sh start)"
set -euo pipefail

die() { echo "firestore-emulator: $*" >&2; exit 1; }

state_dir="${FIRESTORE_STATE_DIR:-${TMPDIR:-/tmp}/acmera-firestore-emulator}"
pid_file="$state_dir/pid"
host_file="$state_dir/host"
log_file="$state_dir/emulator.log"
project="${FIRESTORE_PROJECT:-acmera-test}"
wait_seconds="${FIRESTORE_WAIT_SECONDS:-30}"

find_jar() {
	if [[ -n "${FIRESTORE_EMULATOR_JAR:-}" ]]; then
		[[ -f "$FIRESTORE_EMULATOR_JAR" ]] || die "FIRESTORE_EMULATOR_JAR=$FIRESTORE_EMULATOR_JAR does not exist"
		echo "$FIRESTORE_EMULATOR_JAR"
		return
	fi
	local jar=""
	if command -v dpkg >/dev/null 2>&1; then
		jar="$(dpkg -L google-cloud-cli-firestore-emulator 2>/dev/null | grep -m1 '/cloud-firestore-emulator\.jar$' || true)"
	fi
	if [[ -z "$jar" ]]; then
		local c
		for c in \
			/usr/lib/google-cloud-sdk/platform/cloud-firestore-emulator/cloud-firestore-emulator.jar \
			/usr/share/google-cloud-sdk/platform/cloud-firestore-emulator/cloud-firestore-emulator.jar \
			"${CLOUDSDK_ROOT_DIR:-/nonexistent}/platform/cloud-firestore-emulator/cloud-firestore-emulator.jar"; do
			if [[ -f "$c" ]]; then jar="$c"; break; fi
		done
	fi
	[[ -n "$jar" && -f "$jar" ]] || die "cloud-firestore-emulator.jar not found: install the Debian package google-cloud-cli-firestore-emulator or set FIRESTORE_EMULATOR_JAR"
	echo "$jar"
}

free_port() {
	# Ask the kernel for a free port on loopback.
	if command -v python3 >/dev/null 2>&1; then
		python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
		return
	fi
	local p
	for _ in $(seq 1 50); do
		p=$((20000 + RANDOM % 20000))
		if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then echo "$p"; return; fi
	done
	die "no free port found"
}

running() { [[ -f "$pid_file" ]] && kill -0 "$(cat "$pid_file")" 2>/dev/null; }

ready() {
	# The emulator answers "Ok" on GET / once it serves requests.
	curl -fsS --max-time 2 "http://$1/" >/dev/null 2>&1
}

start() {
	command -v java >/dev/null 2>&1 || die "java not found on PATH: install a JRE (e.g. apt-get install openjdk-17-jre-headless)"
	command -v curl >/dev/null 2>&1 || die "curl not found on PATH"
	local jar port host pid
	jar="$(find_jar)"
	mkdir -p "$state_dir"
	if running; then
		host="$(cat "$host_file")"
		echo "firestore-emulator: already running (pid $(cat "$pid_file"))" >&2
		echo "export FIRESTORE_EMULATOR_HOST=$host"
		return
	fi
	port="${FIRESTORE_PORT:-$(free_port)}"
	host="127.0.0.1:$port"
	nohup java -cp "$jar" com.google.cloud.datastore.emulator.firestore.CloudFirestore start \
		--host=127.0.0.1 --port="$port" --project_id="$project" >"$log_file" 2>&1 &
	pid=$!
	echo "$pid" >"$pid_file"
	echo "$host" >"$host_file"
	local deadline=$((SECONDS + wait_seconds))
	until ready "$host"; do
		if ! kill -0 "$pid" 2>/dev/null; then
			rm -f "$pid_file" "$host_file"
			tail -n 20 "$log_file" >&2 || true
			die "emulator exited before becoming ready (log: $log_file)"
		fi
		if ((SECONDS >= deadline)); then
			kill "$pid" 2>/dev/null || true
			rm -f "$pid_file" "$host_file"
			tail -n 20 "$log_file" >&2 || true
			die "emulator not ready on $host after ${wait_seconds}s (log: $log_file)"
		fi
		sleep 0.2
	done
	echo "firestore-emulator: ready on $host (pid $pid, project $project, log $log_file)" >&2
	echo "export FIRESTORE_EMULATOR_HOST=$host"
}

stop() {
	if ! [[ -f "$pid_file" ]]; then
		echo "firestore-emulator: not running (no $pid_file)" >&2
		return
	fi
	local pid
	pid="$(cat "$pid_file")"
	if kill -0 "$pid" 2>/dev/null; then
		kill "$pid"
		for _ in $(seq 1 50); do
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.1
		done
		if kill -0 "$pid" 2>/dev/null; then
			kill -9 "$pid" 2>/dev/null || true
		fi
		echo "firestore-emulator: stopped pid $pid" >&2
	fi
	rm -f "$pid_file" "$host_file"
}

case "${1:-}" in
start) start ;;
stop) stop ;;
*) die "usage: $0 start|stop" ;;
esac
