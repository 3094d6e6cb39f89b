package bolt

import (
	"bytes"
	"encoding/pem"
	"strings"
	"testing"
	"time"

	"go.etcd.io/bbolt"

	"github.com/acmera/acmera/pkg/core"
)

func pemBlock(der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

// Every chain reads back byte for byte as it was stored, whether it is kept
// compact (leaf DER + shared tail) or raw; and certificates of one issuer
// share one stored tail.
func TestCertificateChainRoundTrip(t *testing.T) {
	leaf := bytes.Repeat([]byte{0x30, 0x82, 7}, 200)
	inter := bytes.Repeat([]byte{0x31, 0x99}, 250)
	standard := append(pemBlock(leaf), pemBlock(inter)...)
	crlf := []byte(strings.ReplaceAll(string(standard), "\n", "\r\n"))
	withHeader := append(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Headers: map[string]string{"X": "y"}, Bytes: leaf}), pemBlock(inter)...)
	tests := []struct {
		name        string
		chain       []byte
		wantCompact bool
	}{
		{"leaf and intermediate", standard, true},
		{"same intermediate again", append(pemBlock(inter[:100]), pemBlock(inter)...), true},
		{"leaf only", pemBlock(leaf), true},
		{"CRLF line ends", crlf, false},
		{"PEM headers", withHeader, false},
		{"not PEM", []byte("opaque chain bytes"), false},
		{"other block type", append(pem.EncodeToMemory(&pem.Block{Type: "X", Bytes: leaf}), pemBlock(inter)...), false},
	}
	s, _ := openTemp(t)
	defer s.Close()
	ctx := t.Context()
	now := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	acct := &core.Account{ID: core.NewID(), KeyThumbprint: core.NewID(), Status: core.StatusValid, CreatedAt: now}
	if err := s.CreateAccount(ctx, acct); err != nil {
		t.Fatal(err)
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			o := &core.Order{ID: core.NewID(), AccountID: acct.ID, Profile: "acme", Status: core.StatusProcessing,
				Expires: now.Add(time.Hour), CreatedAt: now}
			if err := s.CreateOrder(ctx, o, nil); err != nil {
				t.Fatal(err)
			}
			serial := core.NewID()
			cert := &core.Certificate{AccountID: acct.ID, Profile: "acme", Serial: serial, Chain: tc.chain,
				NotBefore: now, NotAfter: now.Add(time.Hour), Status: core.StatusValid, CreatedAt: now}
			if _, err := s.CompleteFinalize(ctx, o.ID, cert); err != nil {
				t.Fatal(err)
			}
			got, err := s.GetCertificate(ctx, o.ID)
			if err != nil || !bytes.Equal(got.Chain, tc.chain) {
				t.Fatalf("GetCertificate: %v, chain %q, want %q", err, got.Chain, tc.chain)
			}
			if bySerial, err := s.GetCertificateBySerial(ctx, serial); err != nil || !bytes.Equal(bySerial.Chain, tc.chain) {
				t.Fatalf("GetCertificateBySerial: %v", err)
			}
			revoked, err := s.RevokeCertificate(ctx, o.ID, 1, now)
			if err != nil || !bytes.Equal(revoked.Chain, tc.chain) {
				t.Fatalf("RevokeCertificate: %v", err)
			}
			if got, err = s.GetCertificate(ctx, o.ID); err != nil || !bytes.Equal(got.Chain, tc.chain) || got.Status != core.StatusRevoked {
				t.Fatalf("after revocation: %v %s", err, got.Status)
			}
			var d certDoc
			s.db.View(func(tx *bbolt.Tx) error { return load(tx, bucketCerts, o.ID, &d) })
			if compact := d.leafDER != nil; compact != tc.wantCompact {
				t.Fatalf("stored compact %v, want %v", compact, tc.wantCompact)
			}
		})
	}
	s.db.View(func(tx *bbolt.Tx) error {
		if n := bucket(tx, bucketChains).Stats().KeyN; n != 1 {
			t.Errorf("%d chain tails stored, want 1 (the intermediate)", n)
		}
		return nil
	})
}

// A certificate written in the first layout (docVersion, raw chain) still
// reads.
func TestCertificateFirstLayout(t *testing.T) {
	s, _ := openTemp(t)
	defer s.Close()
	now := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	d := certDoc{id: "c1", accountID: "a", orderID: "c1", serial: "ff", chain: []byte("chain"), notAfter: now, status: "valid"}
	w := &writer{b: []byte{docVersion}} // as written before compactStrings
	w.str(d.id)
	w.str(d.accountID)
	w.str(d.orderID)
	w.str(d.profile)
	w.str(d.serial)
	w.bytes(d.chain)
	w.time(d.notBefore)
	w.time(d.notAfter)
	w.str(d.caResource)
	w.str(d.status)
	w.time(d.revokedAt)
	w.int(d.reason)
	w.time(d.createdAt)
	if err := s.db.Update(func(tx *bbolt.Tx) error { return put(tx, bucketCerts, []byte("c1"), w.b) }); err != nil {
		t.Fatal(err)
	}
	got, err := s.GetCertificate(t.Context(), "c1")
	if err != nil || string(got.Chain) != "chain" || got.Serial != "ff" || !got.NotAfter.Equal(now) {
		t.Fatalf("first-layout certificate: %+v %v", got, err)
	}
}
