#!/bin/sh
# certbot deploy hook: reload the service that serves the renewed certificate.
# Install as /usr/local/lib/acmera/reload-service.sh (mode 0755); the
# acmera-certbot.service passes it as --deploy-hook, so certbot runs it only
# after a successful renewal, with RENEWED_LINEAGE set.
set -eu
unit="${ACMERA_RELOAD_UNIT:-nginx.service}"
echo "certbot deploy hook: ${RENEWED_LINEAGE:-?} renewed, reloading $unit"
systemctl reload "$unit"
