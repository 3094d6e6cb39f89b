package ra

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"testing"

	"github.com/go-jose/go-jose/v4"

	"github.com/acmera/acmera/pkg/core"
)

// sameKey finds the account key in a CSR by thumbprint, and by comparing
// keys when the account carries no thumbprint.
func TestSameKey(t *testing.T) {
	ec1, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	ec2, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	rsa1, _ := rsa.GenerateKey(rand.Reader, 2048)
	account := func(k crypto.Signer, withThumbprint bool) *core.Account {
		jwk := &jose.JSONWebKey{Key: k.Public()}
		b, _ := jwk.MarshalJSON()
		a := &core.Account{ID: "a", Key: b}
		if withThumbprint {
			tp, _ := jwk.Thumbprint(crypto.SHA256)
			a.KeyThumbprint = base64.RawURLEncoding.EncodeToString(tp)
		}
		return a
	}
	csr := func(k crypto.Signer) *x509.CertificateRequest {
		der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{DNSNames: []string{"a.example"}}, k)
		if err != nil {
			t.Fatal(err)
		}
		c, _ := x509.ParseCertificateRequest(der)
		return c
	}
	tests := []struct {
		name string
		csr  crypto.Signer
		acct *core.Account
		want bool
	}{
		{"EC account key", ec1, account(ec1, true), true},
		{"another EC key", ec2, account(ec1, true), false},
		{"RSA account key", rsa1, account(rsa1, true), true},
		{"RSA CSR, EC account", rsa1, account(ec1, true), false},
		{"no thumbprint: same key", ec1, account(ec1, false), true},
		{"no thumbprint: another key", ec2, account(ec1, false), false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := sameKey(csr(tc.csr), tc.acct); got != tc.want {
				t.Fatalf("sameKey = %v, want %v", got, tc.want)
			}
		})
	}
}
