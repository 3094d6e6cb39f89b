#!/bin/sh
# EXEC_PATH of lego's exec DNS provider (--dns exec) for dns-01 against
# scripts/testdns: lego runs it as
#   lego-exec.sh present|cleanup FQDN VALUE
# (FQDN is _acme-challenge.NAME. with its trailing dot) and it adds or
# removes that TXT value through the test DNS server's control API at
# $TESTDNS_URL.
set -eu
: "${TESTDNS_URL:?TESTDNS_URL must name the testdns control API}"
case "$1" in
present) method=POST ;;
cleanup) method=DELETE ;;
*) echo "lego-exec.sh: unknown command $1" >&2; exit 2 ;;
esac
curl -fsS --max-time 10 -X "$method" -G "$TESTDNS_URL/txt" \
	--data-urlencode "name=$2" --data-urlencode "value=$3"
