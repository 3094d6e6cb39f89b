package e2ecloud

import (
	"errors"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/acme"

	"github.com/acmera/acmera/scripts/internal/e2eutil"
	"github.com/acmera/acmera/scripts/testdns"
)

// TestCAA checks CAA (RFC 8659) on the Cloud stack, where the Validate
// process runs the check and knows no public base URL: a name whose CAA
// record names another CA ends invalid with the caa problem; a name whose
// record names this CA bound to the account with accounturi (RFC 8657)
// issues, the account URL having travelled in the Cloud Tasks payload.
func TestCAA(t *testing.T) {
	t.Parallel()
	needEmulator(t)
	gcp := startFakeGCP(t)
	s := newStack(t, gcp.gcpEndpoints,
		`ACMERA_PROFILES_JSON={"profiles":{"acme":{"allowAnyName":true,"caaIdentities":["ca.cloud.test"]}}}`)
	ctx := e2eutil.TestContext(t, 2*time.Minute)
	cl, err := newClient(s.DirURL, nil)
	mustf(t, err, "newClient")
	mustf(t, register(ctx, cl), "register")
	acct, err := cl.GetReg(ctx, "")
	mustf(t, err, "GetReg")
	s.DNS.AddCAA("deny.caa.test", testdns.CAA{Tag: "issue", Value: "other-ca.test"})
	s.DNS.AddCAA("allow.caa.test", testdns.CAA{Tag: "issue", Value: "ca.cloud.test; accounturi=" + acct.URI})

	_, _, err = s.authorize(ctx, cl, []string{"deny.caa.test"}, "dns-01")
	var ae *acme.AuthorizationError
	var pe *acme.Error
	if !errors.As(err, &ae) || len(ae.Errors) == 0 || !errors.As(ae.Errors[0], &pe) ||
		pe.ProblemType != "urn:ietf:params:acme:error:caa" || !strings.Contains(pe.Detail, `0 issue "other-ca.test"`) {
		t.Fatalf("refusing record: %v, want the authorization invalid with caa quoting the record", err)
	}
	if _, err := s.issue(ctx, cl, gcp.Roots(t), []string{"www.allow.caa.test"}, "dns-01"); err != nil {
		t.Fatalf("permitting record with accounturi: %v", err)
	}
}
