#!/bin/sh
# certbot --manual-cleanup-hook for dns-01 against scripts/testdns: removes
# the TXT value the auth hook published.
set -eu
: "${TESTDNS_URL:?TESTDNS_URL must name the testdns control API}"
curl -fsS --max-time 10 -G -X DELETE "$TESTDNS_URL/txt" \
	--data-urlencode "name=_acme-challenge.$CERTBOT_DOMAIN" \
	--data-urlencode "value=$CERTBOT_VALIDATION"
