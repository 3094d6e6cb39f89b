package e2ecloud

import (
	"net/http"
	"strconv"
	"testing"
	"time"

	"golang.org/x/crypto/acme"

	"github.com/acmera/acmera/scripts/internal/e2eutil"
)

// noRetry429 is shortBackoff, except that a 429 is answered at once, so
// the test sees the refusal rather than x/crypto/acme's retries.
func noRetry429(n int, r *http.Request, res *http.Response) time.Duration {
	if res != nil && res.StatusCode == http.StatusTooManyRequests {
		return 0
	}
	return shortBackoff(n, r, res)
}

// TestRateLimitSharedAcrossInstances runs two ACME instances on one
// Firestore with a profile allowing 3 orders per account per hour: two
// orders through each leave the fourth refused, 429 rateLimited with a
// Retry-After, by whichever instance it reaches. The per-instance limiter
// this replaced would have allowed 3 on each.
func TestRateLimitSharedAcrossInstances(t *testing.T) {
	t.Parallel()
	needEmulator(t)
	gcp := startFakeGCP(t)
	s := newStack(t, gcp.gcpEndpoints, `ACMERA_PROFILES_JSON={"profiles":{"acme":{"allowAnyName":true,"maxOrdersPerHour":3}}}`)
	b := s.addACME()
	ctx := e2eutil.TestContext(t, 2*time.Minute)
	first, err := newClient(s.DirURL, nil)
	mustf(t, err, "newClient")
	acct, err := first.Register(ctx, &acme.Account{}, acme.AcceptTOS)
	mustf(t, err, "Register")
	kid := acme.KeyID(acct.URI)
	viaA, viaB := via(s.ACME, s.DirURL, first.Key, kid), via(b, s.DirURL, first.Key, kid)
	viaA.RetryBackoff, viaB.RetryBackoff = noRetry429, noRetry429

	hour := time.Now().UTC().Truncate(time.Hour)
	for i, cl := range []*acme.Client{viaA, viaB, viaA} {
		_, err := cl.AuthorizeOrder(ctx, acme.DomainIDs("o"+strconv.Itoa(i)+".example.test"))
		mustf(t, err, "order %d", i+1)
	}
	_, err = viaB.AuthorizeOrder(ctx, acme.DomainIDs("o3.example.test"))
	if err == nil && time.Now().UTC().Truncate(time.Hour) != hour {
		t.Skip("the orders straddled the end of an hour, which starts the count over")
	}
	wantProblem(t, err, http.StatusTooManyRequests, "rateLimited", "maxOrdersPerHour exceeded: this account may place 3 new orders per hour")
	ae := err.(*acme.Error)
	secs, perr := strconv.Atoi(ae.Header.Get("Retry-After"))
	if perr != nil || secs < 1 || secs > 3600 {
		t.Fatalf("Retry-After %q, want 1 to 3600 seconds (to the end of the hour)", ae.Header.Get("Retry-After"))
	}
}
