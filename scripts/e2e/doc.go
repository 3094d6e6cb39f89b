// Package e2e holds the end-to-end tests of acmera: real ACME clients
// (golang.org/x/crypto/acme, cert-manager's forked ACME client, certbot,
// the lego CLI, Caddy) and hand-made JWS requests against the real acmera binary, run as a
// separate process on loopback with its own data directory (RFC 8555 end
// to end, plus RFC 8737 tls-alpn-01 and RFC 8738 IP identifiers).
//
// The tests build ./functions/acmera once per run (or use the binary named
// by ACMERA_E2E_BIN), answer challenges on loopback (http-01 and
// tls-alpn-01 listeners, dns-01 through scripts/testdns) and point the
// server's validation at them with ACMERA_HTTP01_PORT,
// ACMERA_TLSALPN01_PORT and ACMERA_RESOLVERS.
//
// certbot tests need certbot (Debian's package) on PATH; the lego and
// Caddy tests need the binaries that scripts/lego-build.sh and
// scripts/caddy-build.sh build and cache (LEGO_BIN and CADDY_BIN, which
// scripts/test.sh sets, else lego and caddy on PATH). A test whose client
// is missing skips, except with CI=true, where it fails.
//
// TestCertManagerController runs the real cert-manager controllers
// (scripts/cmcontroller) against etcd and kube-apiserver, with BIND 9 as
// the RFC 2136 dns01 target; it needs KUBE_APISERVER_BIN, CMCONTROLLER_BIN
// and CERT_MANAGER_CRDS (eval "$(scripts/k8s-build.sh)") and the Debian
// packages etcd-server and bind9, and skips without them unless CI=true.
package e2e
