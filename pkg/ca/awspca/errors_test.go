package awspca

import (
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/credentials"

	"github.com/acmera/acmera/pkg/ca"
	"github.com/acmera/acmera/scripts/fakeaws/pcafake"
)

func TestRevoke(t *testing.T) {
	eachWire(t, func(t *testing.T, w wire) {
		e := newEnv(t, w, pcafake.Config{}, nil)
		got, err := e.issuer.Issue(testCtx(t), issueReq(t, "order-revoke"))
		if err != nil {
			t.Fatalf("Issue: %v", err)
		}
		leaf := parse(t, got.Chain[0])
		req := ca.RevokeRequest{Cert: leaf, Resource: got.Resource, Reason: 1}
		if err := e.issuer.Revoke(testCtx(t), req); err != nil {
			t.Fatalf("Revoke: %v", err)
		}
		revs := e.fake.Revoked()
		if len(revs) != 1 || revs[0].Reason != "KEY_COMPROMISE" || revs[0].Serial.Cmp(leaf.SerialNumber) != 0 {
			t.Fatalf("fake revocations = %+v, want the leaf's serial with KEY_COMPROMISE", revs)
		}
		// Again: AWS answers RequestAlreadyProcessedException, which is
		// success, as ca/cas treats an already-revoked certificate.
		if err := e.issuer.Revoke(testCtx(t), req); err != nil {
			t.Errorf("second Revoke = %v, want nil (already revoked)", err)
		}
		if n := e.fake.Calls()[pcafake.OpRevokeCertificate]; n != 2 || len(e.fake.Revoked()) != 1 {
			t.Errorf("RevokeCertificate calls = %d, revocations %d; want 2 and 1", n, len(e.fake.Revoked()))
		}
		for _, reason := range []int{6, 7, 8, 11} {
			var rej *ca.RejectedError
			if err := e.issuer.Revoke(testCtx(t), ca.RevokeRequest{Cert: leaf, Reason: reason}); !errors.As(err, &rej) {
				t.Errorf("Revoke reason %d = %v, want *ca.RejectedError", reason, err)
			}
		}
		if n := e.fake.Calls()[pcafake.OpRevokeCertificate]; n != 2 {
			t.Errorf("unsupported reasons reached the CA: %d calls", n)
		}
	})
}

func TestReasonMapping(t *testing.T) {
	want := map[int]string{0: "UNSPECIFIED", 1: "KEY_COMPROMISE", 2: "CERTIFICATE_AUTHORITY_COMPROMISE",
		3: "AFFILIATION_CHANGED", 4: "SUPERSEDED", 5: "CESSATION_OF_OPERATION", 9: "PRIVILEGE_WITHDRAWN", 10: "A_A_COMPROMISE"}
	for rfc := -1; rfc <= 11; rfc++ {
		got, ok := awsReason(rfc)
		if w, mapped := want[rfc]; ok != mapped || string(got) != w {
			t.Errorf("awsReason(%d) = %q, %v; want %q, %v", rfc, got, ok, w, mapped)
		}
	}
}

func TestTransientFailuresAreRetriedThenErrTransient(t *testing.T) {
	cases := []struct {
		name      string
		code      string
		status    int
		failures  int
		wantErr   bool
		wantCalls int
	}{
		{"throttled twice then success", "ThrottlingException", 0, 2, false, 3},
		{"throttled on every attempt", "ThrottlingException", 0, 5, true, 3},
		{"5xx on every attempt", "InternalFailure", http.StatusInternalServerError, 5, true, 3},
		{"service unavailable once", "ServiceUnavailable", http.StatusServiceUnavailable, 1, false, 2},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			eachWire(t, func(t *testing.T, w wire) {
				e := newEnv(t, w, pcafake.Config{}, func(c *Config) { c.SigningAlgorithm = "SHA256WITHECDSA" })
				e.fake.FailNext(pcafake.OpIssueCertificate, tc.failures, tc.code, tc.status)
				_, err := e.issuer.Issue(testCtx(t), issueReq(t, "order-throttle"))
				if tc.wantErr != (err != nil) || (tc.wantErr && !errors.Is(err, ca.ErrTransient)) {
					t.Fatalf("Issue = %v, want error %v (ca.ErrTransient)", err, tc.wantErr)
				}
				if err != nil && !strings.Contains(err.Error(), "acmpca.IssueCertificate") {
					t.Errorf("error %q does not name the failing call", err)
				}
				if n := e.fake.Calls()[pcafake.OpIssueCertificate]; n != tc.wantCalls {
					t.Errorf("IssueCertificate calls = %d, want %d", n, tc.wantCalls)
				}
			})
		})
	}
}

func TestNetworkFailureIsTransient(t *testing.T) {
	e := newEnv(t, wires[0], pcafake.Config{}, func(c *Config) {
		c.Endpoint = "http://127.0.0.1:1" // nothing listens there
		c.SigningAlgorithm = "SHA256WITHECDSA"
	})
	if _, err := e.issuer.Issue(testCtx(t), issueReq(t, "order-net")); !errors.Is(err, ca.ErrTransient) {
		t.Errorf("Issue = %v, want ca.ErrTransient", err)
	}
}

func TestMissingCAIsMisconfigured(t *testing.T) {
	eachWire(t, func(t *testing.T, w wire) {
		e := newEnv(t, w, pcafake.Config{}, func(c *Config) {
			c.CAArn = "arn:aws:acm-pca:us-east-1:111122223333:certificate-authority/00000000-0000-4000-8000-000000000000"
		})
		err := e.issuer.Check(testCtx(t))
		if !errors.Is(err, ca.ErrMisconfigured) || !strings.Contains(err.Error(), "CAArn") {
			t.Errorf("Check = %v, want ca.ErrMisconfigured naming CAArn", err)
		}
		if _, err := e.issuer.Issue(testCtx(t), issueReq(t, "order-noca")); !errors.Is(err, ca.ErrMisconfigured) {
			t.Errorf("Issue = %v, want ca.ErrMisconfigured", err)
		}
		if _, err := e.issuer.Roots(testCtx(t)); !errors.Is(err, ca.ErrMisconfigured) {
			t.Errorf("Roots = %v, want ca.ErrMisconfigured", err)
		}
	})
}

func TestCheck(t *testing.T) {
	eachWire(t, func(t *testing.T, w wire) {
		e := newEnv(t, w, pcafake.Config{}, nil)
		if err := e.issuer.Check(testCtx(t)); err != nil {
			t.Fatalf("Check of an ACTIVE CA: %v", err)
		}
		e.fake.SetStatus("DISABLED")
		err := e.issuer.Check(testCtx(t))
		if !errors.Is(err, ca.ErrMisconfigured) || !strings.Contains(err.Error(), "CAArn") || !strings.Contains(err.Error(), "DISABLED") {
			t.Errorf("Check of a DISABLED CA = %v, want ca.ErrMisconfigured naming CAArn and the status", err)
		}
		if _, err := e.issuer.Issue(testCtx(t), issueReq(t, "order-disabled")); !errors.Is(err, ca.ErrMisconfigured) {
			t.Errorf("Issue on a DISABLED CA = %v, want ca.ErrMisconfigured (InvalidStateException)", err)
		}
	})
}

func TestBadSignatureIsRefused(t *testing.T) {
	eachWire(t, func(t *testing.T, w wire) {
		e := newEnv(t, w, pcafake.Config{}, func(c *Config) {
			c.Credentials = credentials.NewStaticCredentialsProvider(testKeyID, "not-the-secret", "")
		})
		err := e.issuer.Check(testCtx(t))
		if !errors.Is(err, ca.ErrMisconfigured) || code(err) != "InvalidSignatureException" {
			t.Errorf("Check with a wrong secret = %v, want InvalidSignatureException as ca.ErrMisconfigured", err)
		}
		if n := len(e.fake.Calls()); n != 0 {
			t.Errorf("the fake served %v despite the bad signature", e.fake.Calls())
		}
	})
}

func TestNewValidatesConfig(t *testing.T) {
	creds := credentials.NewStaticCredentialsProvider(testKeyID, testSecret, "")
	arn := "arn:aws:acm-pca:eu-west-1:111122223333:certificate-authority/11111111-2222-4333-8444-555555555555"
	cases := []struct {
		name string
		cfg  Config
	}{
		{"bad CA ARN", Config{CAArn: "ca-1", Credentials: creds}},
		{"region disagrees", Config{CAArn: arn, Region: "us-east-1", Credentials: creds}},
		{"bad template", Config{CAArn: arn, TemplateArn: "EndEntity", Credentials: creds}},
		{"bad algorithm", Config{CAArn: arn, SigningAlgorithm: "MD5WITHRSA", Credentials: creds}},
		{"no credentials", Config{CAArn: arn}},
		{"role without token", Config{CAArn: arn, RoleArn: "arn:aws:iam::111122223333:role/acmera"}},
		{"both", Config{CAArn: arn, RoleArn: "arn:aws:iam::111122223333:role/acmera", Credentials: creds}},
	}
	for _, tc := range cases {
		if _, err := New(testCtx(t), tc.cfg); err == nil {
			t.Errorf("%s: New accepted %+v", tc.name, tc.cfg)
		}
	}
	if _, err := New(testCtx(t), Config{CAArn: arn, Credentials: creds}); err != nil {
		t.Errorf("New with the region from the ARN: %v", err)
	}
}
