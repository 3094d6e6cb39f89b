// Package e2eutil is the harness shared by acmera's end-to-end tests
// (scripts/e2e, scripts/e2ecloud) and the load tool (scripts/load): the
// environment of a child process; a child process with its output in a
// log file, started, waited for (a banner line on stdout, or an HTTP
// answer) and stopped with SIGTERM then SIGKILL; acmera's embedded default
// run as such a child; loopback responders for http-01 (RFC 8555 §8.3) and
// tls-alpn-01 (RFC 8737 §3); certificate-chain checks; a certbot runner;
// and, for the real cert-manager controller, etcd with kube-apiserver on
// loopback (a static token, a minimal JSON client) and BIND 9
// authoritative for a zone taking TSIG-signed RFC 2136 updates.
//
// Functions that take a testing.TB are for tests: they fail or skip the
// test, and clean up when it ends. The others return errors, so the load
// command uses them too.
package e2eutil
