#!/bin/sh
# certbot --manual-auth-hook for dns-01 against scripts/testdns: publishes
# the TXT record _acme-challenge.$CERTBOT_DOMAIN = $CERTBOT_VALIDATION
# through the test DNS server's control API at $TESTDNS_URL.
set -eu
: "${TESTDNS_URL:?TESTDNS_URL must name the testdns control API}"
curl -fsS --max-time 10 -X POST "$TESTDNS_URL/txt" \
	--data-urlencode "name=_acme-challenge.$CERTBOT_DOMAIN" \
	--data-urlencode "value=$CERTBOT_VALIDATION"
