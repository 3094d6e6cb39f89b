package ra

import (
	"context"
	"sync"
	"testing"

	"github.com/acmera/acmera/pkg/acme"
	"github.com/acmera/acmera/pkg/core"
	"github.com/acmera/acmera/pkg/problem"
	"github.com/acmera/acmera/pkg/queue"
	"github.com/acmera/acmera/pkg/va"
)

// caaVA records the requests it gets and answers with prob.
type caaVA struct {
	mu   sync.Mutex
	reqs []va.Request
	prob *problem.Problem
}

func (v *caaVA) Validate(_ context.Context, req va.Request) *problem.Problem {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.reqs = append(v.reqs, req)
	return v.prob
}

// answerOne orders name and answers its challenge with acctURL, returning
// the authorization.
func (f *fixture) answerOne(t *testing.T, name, acctURL string) *core.Authorization {
	t.Helper()
	o, err := f.ra.NewOrder(t.Context(), f.acct, NewOrderRequest{Profile: "acme", Identifiers: []acme.Identifier{{Type: "dns", Value: name}}})
	if err != nil {
		t.Fatal(err)
	}
	az, err := f.ra.Authorization(t.Context(), f.acct, o.AuthzIDs[0])
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := f.ra.AnswerChallenge(t.Context(), f.acct, ChallengeAnswer{AuthzID: az.ID, ChallengeID: az.Challenges[0].ID, AccountURL: acctURL}); err != nil {
		t.Fatal(err)
	}
	return az
}

// A profile with caaIdentities sends the CAA check with the validation:
// its identities, the wildcard flag and the account URL the challenge POST
// was signed with, carried by the task; a caa problem fails the
// authorization with that problem.
func TestValidateCAA(t *testing.T) {
	f := newFixture(t, 0)
	v := &caaVA{prob: problem.New(problem.CAA, `CAA issue records at a.example do not authorize ca.test: 0 issue ";"`)}
	f.ra.va = v
	f.ra.policy.Profile("acme").CAAIdentities = []string{"ca.test"}
	const url = "https://acme.test/acme/acme/account/abc"
	az := f.answerOne(t, "a.example", url)
	if len(f.q.tasks) != 1 || f.q.tasks[0].AccountURL != url {
		t.Fatalf("queued %+v, want one task with the account URL", f.q.tasks)
	}
	if errs := f.runTasks(t); len(errs) != 1 || errs[0] != nil {
		t.Fatalf("validation task: %v", errs)
	}
	if len(v.reqs) != 1 || v.reqs[0].CAA == nil {
		t.Fatalf("va requests %+v, want one with CAA", v.reqs)
	}
	if c := v.reqs[0].CAA; len(c.Identities) != 1 || c.Identities[0] != "ca.test" || c.AccountURL != url || c.Wildcard {
		t.Errorf("CAA = %+v", c)
	}
	got, err := f.ra.Authorization(t.Context(), f.acct, az.ID)
	if err != nil {
		t.Fatal(err)
	}
	ch := got.Challenges[0]
	if got.Status != core.StatusInvalid || ch.Error == nil || ch.Error.Type != problem.CAA || ch.Error.Identifier == nil {
		t.Fatalf("authz %s, challenge error %+v; want invalid with a caa problem naming the identifier", got.Status, ch.Error)
	}
}

// A profile without caaIdentities asks for no CAA check; a task queued
// without an account URL (an old payload) still decodes and validates,
// with an empty AccountURL.
func TestValidateCAAOffAndOldTask(t *testing.T) {
	f := newFixture(t, 0)
	v := &caaVA{}
	f.ra.va = v
	f.answerOne(t, "off.example", "https://acme.test/acme/acme/account/abc")
	if errs := f.runTasks(t); len(errs) != 1 || errs[0] != nil {
		t.Fatalf("task: %v", errs)
	}
	if v.reqs[0].CAA != nil {
		t.Errorf("profile without caaIdentities: CAA %+v, want none", v.reqs[0].CAA)
	}

	f.ra.policy.Profile("acme").CAAIdentities = []string{"ca.test"}
	f.answerOne(t, "old.example", "https://acme.test/acme/acme/account/abc")
	old, err := queue.Decode([]byte(`{"kind":"validate","profile":"acme","authz":"` + f.q.tasks[0].AuthzID +
		`","challenge":"` + f.q.tasks[0].ChallengeID + `"}`))
	if err != nil {
		t.Fatalf("old payload: %v", err)
	}
	f.q.tasks[0] = old
	if errs := f.runTasks(t); len(errs) != 1 || errs[0] != nil {
		t.Fatalf("task: %v", errs)
	}
	if c := v.reqs[1].CAA; c == nil || c.AccountURL != "" || len(c.Identities) != 1 {
		t.Errorf("old task: CAA %+v, want the check with no account URL", c)
	}
}
