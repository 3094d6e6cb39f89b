package storetest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/acmera/acmera/pkg/acme"
	"github.com/acmera/acmera/pkg/certpem"
	"github.com/acmera/acmera/pkg/core"
	"github.com/acmera/acmera/pkg/store"
)

// lister returns s as a store.Lister, or skips the test.
func lister(t *testing.T, s store.Store) store.Lister {
	t.Helper()
	l, ok := s.(store.Lister)
	if !ok {
		t.Skip("the store is not a store.Lister")
	}
	return l
}

// leafChain is a PEM chain of one self-signed certificate for name with
// serial, so a Lister can read its names.
func leafChain(t *testing.T, serial *big.Int, name string, notAfter time.Time) []byte {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatalf("ecdsa.GenerateKey: %v", err)
	}
	tmpl := &x509.Certificate{SerialNumber: serial, Subject: pkix.Name{CommonName: name}, DNSNames: []string{name},
		NotBefore: notAfter.Add(-90 * day), NotAfter: notAfter}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
	if err != nil {
		t.Fatalf("x509.CreateCertificate: %v", err)
	}
	return certpem.Append(nil, der)
}

// issue takes a new order of acct for name through to a certificate
// created at created and expiring at notAfter.
func issue(t *testing.T, s store.Store, acct *core.Account, name string, created, notAfter time.Time) *core.Certificate {
	t.Helper()
	o, azs := mustCreateOrder(t, s, orderSpec{account: acct, idents: []acme.Identifier{dns(name)}})
	for _, az := range azs {
		validate(t, s, az, at(time.Minute))
	}
	if _, err := s.BeginFinalize(t.Context(), o.ID, []byte("csr-"+o.ID), at(time.Hour)); err != nil {
		t.Fatalf("BeginFinalize: %v", err)
	}
	serial := new(big.Int).SetBytes([]byte(o.ID))
	c := newCert(o)
	c.Serial, c.Chain, c.NotAfter, c.CreatedAt = serial.Text(16), leafChain(t, serial, name, notAfter), notAfter, created
	if _, err := s.CompleteFinalize(t.Context(), o.ID, c); err != nil {
		t.Fatalf("CompleteFinalize: %v", err)
	}
	return c
}

func certIDs(cs []*core.Certificate) []string {
	ids := make([]string, len(cs))
	for i, c := range cs {
		ids[i] = c.ID
	}
	return ids
}

func testListCertificates(t *testing.T, s store.Store) {
	l := lister(t, s)
	acct := mustCreateAccount(t, s)
	unique := strings.ToLower(core.NewID()[:10]) + ".list.example"
	c1 := issue(t, s, acct, "one."+unique, at(time.Hour), at(2*day))
	c2 := issue(t, s, acct, "two."+unique, at(2*time.Hour), at(10*day))
	c3 := issue(t, s, acct, "three."+unique, at(3*time.Hour), at(30*day))
	if _, err := s.RevokeCertificate(t.Context(), c2.ID, 1, at(4*time.Hour)); err != nil {
		t.Fatalf("RevokeCertificate: %v", err)
	}
	tests := []struct {
		name string
		f    store.CertificateFilter
		want []string
	}{
		{"account", store.CertificateFilter{AccountID: acct.ID, Limit: 10}, []string{c3.ID, c2.ID, c1.ID}},
		{"account limit", store.CertificateFilter{AccountID: acct.ID, Limit: 2}, []string{c3.ID, c2.ID}},
		{"serial", store.CertificateFilter{Serial: c2.Serial, Limit: 10}, []string{c2.ID}},
		{"serial of another account", store.CertificateFilter{Serial: c2.Serial, AccountID: core.NewID(), Limit: 10}, nil},
		{"name", store.CertificateFilter{Name: "THREE." + unique, Limit: 10}, []string{c3.ID}},
		{"account and name", store.CertificateFilter{AccountID: acct.ID, Name: "one." + unique, Limit: 10}, []string{c1.ID}},
		{"revoked", store.CertificateFilter{AccountID: acct.ID, Revoked: true, Limit: 10}, []string{c2.ID}},
		{"expiring, revoked left out", store.CertificateFilter{AccountID: acct.ID, Now: at(day), ExpiringBefore: at(15 * day), Limit: 10},
			[]string{c1.ID}},
		{"expiring, already expired left out", store.CertificateFilter{AccountID: acct.ID, Now: at(3 * day), ExpiringBefore: at(40 * day), Limit: 10},
			[]string{c3.ID}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := l.ListCertificates(t.Context(), tc.f)
			if err != nil {
				t.Fatalf("ListCertificates: %v", err)
			}
			if ids := certIDs(got); !slices.Equal(ids, tc.want) {
				t.Errorf("ListCertificates(%+v) = %q, want %q", tc.f, ids, tc.want)
			}
		})
	}
	got, err := l.ListCertificates(t.Context(), store.CertificateFilter{Serial: c1.Serial, Limit: 1})
	if err != nil || len(got) != 1 {
		t.Fatalf("ListCertificates(serial) = %d, %v", len(got), err)
	}
	sameAs(t, "listed certificate", got[0], c1, normCert)
	for _, limit := range []int{0, -1, store.MaxListLimit + 1} {
		if _, err := l.ListCertificates(t.Context(), store.CertificateFilter{Limit: limit}); err == nil {
			t.Errorf("ListCertificates(limit %d) succeeded", limit)
		}
	}
}

func testListAccounts(t *testing.T, s store.Store) {
	l := lister(t, s)
	var want []*core.Account
	for i := range 3 {
		a := newAccount()
		a.CreatedAt = at(1000*day + time.Duration(i)*time.Second)
		if err := s.CreateAccount(t.Context(), a); err != nil {
			t.Fatalf("CreateAccount: %v", err)
		}
		want = append(want, a)
	}
	got, err := l.ListAccounts(t.Context(), store.MaxListLimit)
	if err != nil {
		t.Fatalf("ListAccounts: %v", err)
	}
	for _, a := range want {
		i := slices.IndexFunc(got, func(g *core.Account) bool { return g.ID == a.ID })
		if i < 0 {
			t.Errorf("ListAccounts lacks account %s", a.ID)
			continue
		}
		sameAs(t, "listed account", got[i], a, normAccount)
	}
	if !slices.IsSortedFunc(got, func(a, b *core.Account) int { return b.CreatedAt.Compare(a.CreatedAt) }) {
		t.Error("ListAccounts is not newest first")
	}
	if one, err := l.ListAccounts(t.Context(), 1); err != nil || len(one) != 1 {
		t.Errorf("ListAccounts(1) = %d accounts, %v; want 1", len(one), err)
	}
	if _, err := l.ListAccounts(t.Context(), 0); err == nil {
		t.Error("ListAccounts(0) succeeded")
	}
}

func testListInvalidOrders(t *testing.T, s store.Store) {
	l := lister(t, s)
	acct := mustCreateAccount(t, s)
	failed, azs := mustCreateOrder(t, s, orderSpec{account: acct, idents: []acme.Identifier{dns("fail.example")}})
	fail(t, s, azs[0], at(900*day))
	pending, _ := mustCreateOrder(t, s, orderSpec{account: acct, idents: []acme.Identifier{dns("pending.example")}})
	got, err := l.ListInvalidOrders(t.Context(), store.MaxListLimit)
	if err != nil {
		t.Fatalf("ListInvalidOrders: %v", err)
	}
	i := slices.IndexFunc(got, func(o *core.Order) bool { return o.ID == failed.ID })
	switch {
	case i < 0:
		t.Fatalf("ListInvalidOrders lacks the failed order %s", failed.ID)
	case got[i].Error == nil || got[i].Error.Detail == "":
		t.Errorf("listed invalid order has no problem: %+v", got[i])
	case !sameTime(got[i].UpdatedAt, at(900*day)):
		t.Errorf("listed invalid order updated at %v, want %v", got[i].UpdatedAt, at(900*day))
	}
	if slices.ContainsFunc(got, func(o *core.Order) bool { return o.ID == pending.ID || o.Status != core.StatusInvalid }) {
		t.Error("ListInvalidOrders lists an order that is not invalid")
	}
	if !slices.IsSortedFunc(got, func(a, b *core.Order) int { return b.UpdatedAt.Compare(a.UpdatedAt) }) {
		t.Error("ListInvalidOrders is not newest first")
	}
	if _, err := l.ListInvalidOrders(t.Context(), store.MaxListLimit+1); err == nil {
		t.Error("ListInvalidOrders(MaxListLimit+1) succeeded")
	}
}
