package cas

import (
	"bytes"
	"crypto/elliptic"
	"errors"
	"fmt"
	"strings"
	"testing"

	"cloud.google.com/go/security/privateca/apiv1/privatecapb"
	"google.golang.org/grpc/codes"

	"github.com/acmera/acmera/pkg/ca"
	"github.com/acmera/acmera/scripts/fakegcp/casfake"
)

// issueOne issues a certificate for a fresh order and returns its resource.
func issueOne(t *testing.T, e *env, order string) *ca.Issued {
	t.Helper()
	got, err := e.issuer.Issue(testCtx(t), issueReq(t, order, ecKey(t, elliptic.P256())))
	if err != nil {
		t.Fatalf("Issue: %v", err)
	}
	return got
}

func TestRevokeMapsRFC5280ReasonsToCAS(t *testing.T) {
	tests := []struct {
		rfc  int
		want privatecapb.RevocationReason
	}{
		{0, privatecapb.RevocationReason_REVOCATION_REASON_UNSPECIFIED},
		{1, privatecapb.RevocationReason_KEY_COMPROMISE},
		{2, privatecapb.RevocationReason_CERTIFICATE_AUTHORITY_COMPROMISE},
		{3, privatecapb.RevocationReason_AFFILIATION_CHANGED},
		{4, privatecapb.RevocationReason_SUPERSEDED},
		{5, privatecapb.RevocationReason_CESSATION_OF_OPERATION},
		{6, privatecapb.RevocationReason_CERTIFICATE_HOLD},
		{9, privatecapb.RevocationReason_PRIVILEGE_WITHDRAWN},
		{10, privatecapb.RevocationReason_ATTRIBUTE_AUTHORITY_COMPROMISE},
	}
	e := newEnv(t, casfake.Config{}, 3)
	for _, tt := range tests {
		t.Run(fmt.Sprintf("rfc5280 %d", tt.rfc), func(t *testing.T) {
			iss := issueOne(t, e, fmt.Sprintf("order-reason-%d", tt.rfc))
			err := e.issuer.Revoke(testCtx(t), ca.RevokeRequest{Resource: iss.Resource, Reason: tt.rfc})
			if err != nil {
				t.Fatalf("Revoke: %v", err)
			}
			got, revoked := e.fake.Revocation(iss.Resource)
			if !revoked || got != tt.want {
				t.Errorf("fake recorded (%v, %v), want (%v, true)", got, revoked, tt.want)
			}
		})
	}
}

func TestRevokeRejectsNonRevocableReasons(t *testing.T) {
	e := newEnv(t, casfake.Config{}, 3)
	iss := issueOne(t, e, "order-bad-reason")
	for _, reason := range []int{7, 8, 11, -1} {
		t.Run(fmt.Sprint(reason), func(t *testing.T) {
			err := e.issuer.Revoke(testCtx(t), ca.RevokeRequest{Resource: iss.Resource, Reason: reason})
			var rej *ca.RejectedError
			if !errors.As(err, &rej) {
				t.Fatalf("Revoke error = %v, want *ca.RejectedError", err)
			}
		})
	}
	if n := e.fake.Stats()[casfake.MethodRevokeCertificate]; n != 0 {
		t.Errorf("RevokeCertificate calls = %d, want 0", n)
	}
}

func TestRevokeTwice(t *testing.T) {
	tests := []struct {
		name         string
		second       int
		wantGetCalls int
	}{
		{name: "same reason is a request_id replay", second: 1, wantGetCalls: 0},
		{name: "other reason finds it already revoked", second: 4, wantGetCalls: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, casfake.Config{}, 3)
			iss := issueOne(t, e, "order-revoke-twice")
			for i, reason := range []int{1, tt.second} {
				if err := e.issuer.Revoke(testCtx(t), ca.RevokeRequest{Resource: iss.Resource, Reason: reason}); err != nil {
					t.Fatalf("Revoke #%d: %v", i+1, err)
				}
			}
			if got, _ := e.fake.Revocation(iss.Resource); got != privatecapb.RevocationReason_KEY_COMPROMISE {
				t.Errorf("recorded reason %v, want the first one, KEY_COMPROMISE", got)
			}
			st := e.fake.Stats()
			if st[casfake.MethodRevokeCertificate] != 2 || st[casfake.MethodGetCertificate] != tt.wantGetCalls {
				t.Errorf("stats = %v, want 2 RevokeCertificate, %d GetCertificate", st, tt.wantGetCalls)
			}
		})
	}
}

func TestRevokeDevOpsTierIsRejected(t *testing.T) {
	e := newEnv(t, casfake.Config{Tier: privatecapb.CaPool_DEVOPS}, 3)
	iss := issueOne(t, e, "order-devops")
	err := e.issuer.Revoke(testCtx(t), ca.RevokeRequest{Resource: iss.Resource, Reason: 1})
	var rej *ca.RejectedError
	if !errors.As(err, &rej) {
		t.Fatalf("Revoke error = %v, want *ca.RejectedError", err)
	}
	if !strings.Contains(rej.Detail, "DevOps") || !strings.Contains(rej.Detail, "cannot revoke") {
		t.Errorf("Detail = %q, want it to say the DevOps tier cannot revoke", rej.Detail)
	}
}

func TestRevokeTransientAndMissing(t *testing.T) {
	e := newEnv(t, casfake.Config{}, 2)
	iss := issueOne(t, e, "order-revoke-errors")
	e.fake.FailNext(casfake.MethodRevokeCertificate, 2, codes.Unavailable)
	err := e.issuer.Revoke(testCtx(t), ca.RevokeRequest{Resource: iss.Resource, Reason: 1})
	if !errors.Is(err, ca.ErrTransient) {
		t.Errorf("Revoke with CAS unavailable: %v, want ca.ErrTransient", err)
	}
	if _, revoked := e.fake.Revocation(iss.Resource); revoked {
		t.Error("certificate revoked although every attempt failed")
	}
	missing := e.fake.Pool() + "/certificates/no-such-cert"
	err = e.issuer.Revoke(testCtx(t), ca.RevokeRequest{Resource: missing, Reason: 1})
	var rej *ca.RejectedError
	if !errors.As(err, &rej) {
		t.Errorf("Revoke of an unknown certificate: %v, want *ca.RejectedError", err)
	}
}

func TestRoots(t *testing.T) {
	e := newEnv(t, casfake.Config{}, 3)
	roots, err := e.issuer.Roots(testCtx(t))
	if err != nil {
		t.Fatalf("Roots: %v", err)
	}
	if len(roots) != 1 {
		t.Fatalf("Roots returned %d certificates, want 1", len(roots))
	}
	root := parse(t, roots[0])
	if !bytes.Equal(root.RawSubject, root.RawIssuer) || root.CheckSignatureFrom(root) != nil {
		t.Error("Roots returned a certificate that is not self-signed")
	}
	want, err := pemCerts(string(e.fake.RootPEM()))
	if err != nil || !bytes.Equal(want[0], roots[0]) {
		t.Errorf("Roots differs from the fake's root.pem (%v)", err)
	}
}

func TestNewValidatesPool(t *testing.T) {
	for _, pool := range []string{"", "my-pool", "projects/p/locations/l/caPools/", "projects/p/caPools/x", "projects/p/locations/l/caPools/x/extra"} {
		t.Run(pool, func(t *testing.T) {
			if _, err := New(testCtx(t), Config{Pool: pool}); err == nil {
				t.Errorf("New accepted pool %q", pool)
			}
		})
	}
}
