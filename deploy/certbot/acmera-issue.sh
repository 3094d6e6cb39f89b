#!/usr/bin/env bash
# acmera-issue.sh NAME [NAME...] - first issuance of a certificate from acmera
# with certbot, then pin its renewal window to 8 hours (24-hour certificates).
#
#   ACMERA_CA_BUNDLE  PEM bundle trusted for the directory's TLS (only when the
#                     directory is behind the internal load balancer; the
#                     run.app URL uses Google's public certificates)
set -euo pipefail
[ $# -ge 1 ] || { echo "usage: $0 NAME [NAME...]" >&2; exit 2; }

if [ -n "${ACMERA_CA_BUNDLE:-}" ]; then export REQUESTS_CA_BUNDLE="$ACMERA_CA_BUNDLE"; fi

args=()
for n in "$@"; do args+=(-d "$n"); done
certbot certonly --config /etc/letsencrypt/cli.ini --cert-name "$1" \
  --deploy-hook /usr/local/lib/acmera/reload-service.sh "${args[@]}"

conf="/etc/letsencrypt/renewal/$1.conf"
if grep -qE '^[#[:space:]]*renew_before_expiry' "$conf"; then
  sed -i -E 's/^[#[:space:]]*renew_before_expiry.*/renew_before_expiry = 8 hours/' "$conf"
else
  sed -i '1i renew_before_expiry = 8 hours' "$conf"
fi
echo "acmera-issue: $1 renews 8 hours before expiry ($conf)"
