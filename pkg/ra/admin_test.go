package ra

import (
	"bytes"
	"errors"
	"log/slog"
	"strings"
	"testing"

	"github.com/acmera/acmera/pkg/core"
	"github.com/acmera/acmera/pkg/problem"
	"github.com/acmera/acmera/pkg/store"
)

func TestReasonCode(t *testing.T) {
	for name, want := range map[string]int{"unspecified": 0, "keyCompromise": 1, "superseded": 4, "privilegeWithdrawn": 9} {
		if got, err := ReasonCode(name); err != nil || got != want {
			t.Errorf("ReasonCode(%q) = %d, %v; want %d", name, got, err, want)
		}
	}
	for _, bad := range []string{"", "cACompromise", "removeFromCRL", "keycompromise"} {
		if _, err := ReasonCode(bad); err == nil {
			t.Errorf("ReasonCode(%q) succeeded", bad)
		}
	}
}

// An admin revocation goes to the CA backend with its reason, is
// recorded, and is audited with the actor; a second one is
// alreadyRevoked and an unknown serial notFound.
func TestAdminRevoke(t *testing.T) {
	f := newFixture(t, 0)
	var logs bytes.Buffer
	f.ra.log = slog.New(slog.NewJSONHandler(&logs, nil))
	o := f.readyOrder(t)
	if _, err := f.ra.Finalize(t.Context(), f.acct, o.ID, csrDER(t)); err != nil {
		t.Fatal(err)
	}
	c, err := f.store.GetCertificate(t.Context(), o.ID)
	if err != nil {
		t.Fatal(err)
	}
	rev := &revokeLog{}
	f.setCA(revokingCA{f.ca, rev})
	got, err := f.ra.AdminRevoke(t.Context(), AdminRevokeRequest{Serial: strings.ToUpper(c.Serial), Reason: 1, Actor: "alice"})
	if err != nil || got.Status != core.StatusRevoked || got.RevocationReason != 1 {
		t.Fatalf("AdminRevoke: %+v, %v", got, err)
	}
	if len(rev.reqs) != 1 || rev.reqs[0].Reason != 1 || rev.reqs[0].Cert == nil {
		t.Fatalf("CA revocations %+v, want one with reason 1", rev.reqs)
	}
	if l := logs.String(); !strings.Contains(l, `"event":"certificate.revoke"`) || !strings.Contains(l, `"actor":"alice"`) ||
		!strings.Contains(l, `"admin":true`) {
		t.Errorf("audit log %q, want certificate.revoke with the actor", l)
	}
	var p *problem.Problem
	if _, err := f.ra.AdminRevoke(t.Context(), AdminRevokeRequest{Serial: c.Serial, Reason: 4, Actor: "alice"}); !errors.As(err, &p) || p.Type != problem.AlreadyRevoked {
		t.Errorf("second AdminRevoke: %v, want alreadyRevoked", err)
	}
	if _, err := f.ra.AdminRevoke(t.Context(), AdminRevokeRequest{Serial: "abc", Reason: 4, Actor: "alice"}); !errors.As(err, &p) || p.Status != 404 {
		t.Errorf("AdminRevoke(unknown): %v, want notFound", err)
	}
	if _, err := f.ra.AdminRevoke(t.Context(), AdminRevokeRequest{Serial: c.Serial, Reason: 2, Actor: "alice"}); !errors.As(err, &p) || p.Type != problem.BadRevocationReason {
		t.Errorf("AdminRevoke(reason 2): %v, want badRevocationReason", err)
	}
	if _, err := f.ra.AdminRevoke(t.Context(), AdminRevokeRequest{Serial: c.Serial, Reason: 1}); err == nil {
		t.Error("AdminRevoke without an actor succeeded")
	}
}

func TestAdminDeactivateAccount(t *testing.T) {
	f := newFixture(t, 0)
	a, err := f.ra.AdminDeactivateAccount(t.Context(), f.acct.ID, "bob")
	if err != nil || a.Status != core.StatusDeactivated {
		t.Fatalf("AdminDeactivateAccount: %+v, %v", a, err)
	}
	if _, err := f.ra.AdminDeactivateAccount(t.Context(), f.acct.ID, "bob"); !errors.Is(err, store.ErrConflict) {
		t.Errorf("again: %v, want ErrConflict", err)
	}
	if _, err := f.ra.AdminDeactivateAccount(t.Context(), core.NewID(), "bob"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("unknown: %v, want ErrNotFound", err)
	}
}
