// Package e2ecloud holds the end-to-end tests of acmera's Google Cloud
// stack, run on loopback with no Google account: the real Firestore
// emulator, scripts/fakegcp (wire-level fakes of Certificate Authority
// Service and Cloud Tasks, dispatching tasks with OIDC tokens), one
// FUNCTION_TARGET=ACME process and one FUNCTION_TARGET=Validate process of
// the real binary.
//
// The tests prove issuance with real clients (golang.org/x/crypto/acme
// with http-01, dns-01 and tls-alpn-01; certbot with http-01 and dns-01;
// RFC 8555 §8, RFC 8737) with exactly one CA call per certificate; that
// kill -9 of either function in the middle of a batch of orders leaves
// every order valid or invalid with a problem and mints no duplicate
// certificate; that injected faults (CAS Unavailable, duplicate and late
// task deliveries) change nothing but latency; that 200 orders (1,000
// with ACMERA_CHAOS_ORDERS) from 50 accounts all end valid or invalid with
// a problem, with one CAS certificate per valid order and no nonce
// accepted twice, through a schedule of CAS failures, duplicate and late
// task deliveries and three kill -9s of each function (checked by
// reading Firestore, the table written to $ACMERA_CHAOS_OUT when set); that the validator refuses
// calls without a valid Cloud Tasks OIDC token and changes nothing; that a
// key rollover or deactivation through one of two ACME instances holds on
// the other from its next request (RFC 8555 §7.3.5, §7.3.6); and
// they measure Firestore document reads and writes per issuance with the
// client-side gRPC op counter (written to $ACMERA_OPS_OUT when set).
//
// The Firestore emulator is taken from FIRESTORE_EMULATOR_HOST, else
// started with scripts/firestore-emulator.sh; if neither works the tests
// skip, except with CI=true, where they fail. certbot tests need
// certbot on PATH and follow the same rule. The binaries are built once
// per run (or taken from ACMERA_E2E_BIN and ACMERA_FAKEGCP_BIN). With
// ACMERA_E2ECLOUD_LOGS=DIR the processes' logs are kept there, one
// directory per test.
package e2ecloud
