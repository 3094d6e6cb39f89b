package storetest

import (
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/acmera/acmera/pkg/core"
	"github.com/acmera/acmera/pkg/problem"
)

// The normalisers below map what the contract does not distinguish to one
// form: times to UTC milliseconds, empty slices to nil. Two objects then
// round-trip iff reflect.DeepEqual holds.

func msTime(t time.Time) time.Time {
	if t.IsZero() {
		return time.Time{}
	}
	return t.Truncate(time.Millisecond).UTC()
}

func nilIfEmpty[S ~[]E, E any](s S) S {
	if len(s) == 0 {
		return nil
	}
	return s
}

func normProblem(p *problem.Problem) *problem.Problem {
	if p == nil {
		return nil
	}
	c := *p
	c.Subproblems = nil
	for _, sp := range p.Subproblems {
		c.Subproblems = append(c.Subproblems, *normProblem(&sp))
	}
	return &c
}

func normAccount(a *core.Account) *core.Account {
	if a == nil {
		return nil
	}
	c := *a
	c.Key, c.Contact, c.CreatedAt = nilIfEmpty(a.Key), nilIfEmpty(a.Contact), msTime(a.CreatedAt)
	return &c
}

func normAuthz(a *core.Authorization) *core.Authorization {
	if a == nil {
		return nil
	}
	c := *a
	c.Expires, c.CreatedAt = msTime(a.Expires), msTime(a.CreatedAt)
	c.Challenges = nil
	for _, ch := range a.Challenges {
		ch.Validated, ch.Error = msTime(ch.Validated), normProblem(ch.Error)
		c.Challenges = append(c.Challenges, ch)
	}
	return &c
}

func normOrder(o *core.Order) *core.Order {
	if o == nil {
		return nil
	}
	c := *o
	c.Expires, c.NotBefore, c.NotAfter = msTime(o.Expires), msTime(o.NotBefore), msTime(o.NotAfter)
	c.CreatedAt, c.UpdatedAt = msTime(o.CreatedAt), msTime(o.UpdatedAt)
	c.Identifiers, c.AuthzIDs = nilIfEmpty(slices.Clone(o.Identifiers)), nilIfEmpty(slices.Clone(o.AuthzIDs))
	c.CSR, c.Error = nilIfEmpty(o.CSR), normProblem(o.Error)
	return &c
}

func normCert(x *core.Certificate) *core.Certificate {
	if x == nil {
		return nil
	}
	c := *x
	c.Chain = nilIfEmpty(x.Chain)
	c.NotBefore, c.NotAfter = msTime(x.NotBefore), msTime(x.NotAfter)
	c.RevokedAt, c.CreatedAt = msTime(x.RevokedAt), msTime(x.CreatedAt)
	return &c
}

// sameAs fails unless got equals want after normalisation by norm.
func sameAs[T any](t *testing.T, what string, got, want *T, norm func(*T) *T) {
	t.Helper()
	if g, w := norm(got), norm(want); !reflect.DeepEqual(g, w) {
		t.Errorf("%s:\n got %+v\nwant %+v", what, g, w)
	}
}

func sameTime(a, b time.Time) bool { return msTime(a).Equal(msTime(b)) }
