package adcs

import (
	"context"
	"crypto/x509"
	"errors"
	"math/big"
	"testing"
	"time"

	"github.com/oiweiwei/go-msrpc/msrpc/dcom"

	"github.com/acmera/acmera/pkg/ca"
)

// DCOM revocation cannot run here (no DCE/RPC server, no Windows AD CS):
// these tests cover the reason mapping and the request built for
// ICertAdminD::RevokeCertificate only.

func TestMSReason(t *testing.T) {
	held := func(v bool) func(context.Context) (bool, error) {
		return func(context.Context) (bool, error) { return v, nil }
	}
	for rfc := 0; rfc <= 6; rfc++ {
		if got, err := msReason(t.Context(), rfc, held(false)); err != nil || got != uint32(rfc) {
			t.Errorf("reason %d -> %d, %v; want the same number", rfc, got, err)
		}
	}
	if got, err := msReason(t.Context(), 8, held(true)); err != nil || got != 8 {
		t.Errorf("removeFromCRL of a held certificate -> %d, %v; want 8", got, err)
	}
	var rej *ca.RejectedError
	if _, err := msReason(t.Context(), 8, held(false)); !errors.As(err, &rej) {
		t.Errorf("removeFromCRL of a certificate not on hold: %v, want RejectedError", err)
	}
	for _, rfc := range []int{7, 9, 10, -1, 11} {
		if _, err := msReason(t.Context(), rfc, held(true)); !errors.As(err, &rej) {
			t.Errorf("reason %d: %v, want RejectedError", rfc, err)
		}
	}
	boom := errors.New("unreachable")
	if _, err := msReason(t.Context(), 8, func(context.Context) (bool, error) { return false, boom }); !errors.Is(err, boom) {
		t.Errorf("hold lookup failing: %v, want its error", err)
	}
}

func TestRevokeCertificateRequest(t *testing.T) {
	serial, _ := new(big.Int).SetString("00ab0c0d", 16)
	if got := serialHex(new(big.Int).SetBytes([]byte{0x0a, 0xb0, 0xc0}).Bytes()); got != "0ab0c0" {
		t.Errorf("serialHex = %q, want plain hex with leading zero digits kept per byte", got)
	}
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	ver := &dcom.COMVersion{MajorVersion: 5, MinorVersion: 7}
	req := revokeCertificateRequest(ver, "Fake Corp Issuing CA", serialHex(serial.Bytes()), 1, at)
	if req.Authority != "Fake Corp Issuing CA" || req.SerialNumber != "ab0c0d" || req.Reason != 1 || req.This.Version != ver {
		t.Errorf("request %+v", req)
	}
	ft := uint64(req.FileTime.HighDateTime)<<32 | uint64(req.FileTime.LowDateTime)
	if want := uint64(at.Unix())*10_000_000 + 116444736000000000; ft != want {
		t.Errorf("FileTime %d, want %d (100 ns since 1601)", ft, want)
	}
}

func TestRevokeNone(t *testing.T) {
	t.Parallel()
	f := startFake(t, nil)
	i := newIssuer(t, f, ntlmAuth(t, password), nil)
	var rej *ca.RejectedError
	err := i.Revoke(t.Context(), ca.RevokeRequest{Cert: &x509.Certificate{SerialNumber: big.NewInt(5)}, Reason: 1})
	if !errors.As(err, &rej) {
		t.Errorf("Revoke with revocation none: %v, want RejectedError saying it cannot", err)
	}
	if _, err := New(Config{BaseURL: f.srv.URL, Template: "WebServer", Auth: ntlmAuth(t, password), Revocation: RevocationDCOM}); err == nil {
		t.Error("New with dcom revocation and no authority succeeded")
	}
}

func TestNewValidates(t *testing.T) {
	a := NTLM{Domain: domain, Username: user, PasswordFile: writeFile(t, "p", password)}
	for name, cfg := range map[string]Config{
		"http":     {BaseURL: "http://ca.corp.test", Template: "WebServer", Auth: a},
		"no auth":  {BaseURL: "https://ca.corp.test", Template: "WebServer"},
		"template": {BaseURL: "https://ca.corp.test", Template: "a:b", Auth: a},
		"revoke":   {BaseURL: "https://ca.corp.test", Auth: a, Revocation: "winrm"},
		"kerberos": {BaseURL: "https://ca.corp.test", Auth: Kerberos{Realm: realm, Username: user, SPN: spn}},
	} {
		if _, err := New(cfg); err == nil {
			t.Errorf("%s: New accepted %+v", name, cfg)
		}
	}
	i, err := New(Config{BaseURL: "https://ca.corp.test/", Auth: a})
	if err != nil || i.base.String() != "https://ca.corp.test/certsrv" {
		t.Errorf("New: %v, base %v; want .../certsrv", err, i.base)
	}
}
