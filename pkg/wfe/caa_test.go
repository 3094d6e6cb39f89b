package wfe_test

import (
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"sync"
	"testing"
	"time"

	acmefn "github.com/acmera/acmera/functions/acme"
	"github.com/acmera/acmera/pkg/policy"
	"github.com/acmera/acmera/pkg/queue"
)

// taskLog records the tasks the RA enqueues, then passes them on.
type taskLog struct {
	next  queue.Enqueuer
	mu    sync.Mutex
	tasks []queue.Task
}

func (l *taskLog) Enqueue(ctx context.Context, t queue.Task) error {
	l.mu.Lock()
	l.tasks = append(l.tasks, t)
	l.mu.Unlock()
	return l.next.Enqueue(ctx, t)
}

// A profile's caaIdentities are its directory's meta.caaIdentities (RFC
// 8555 §7.1.1), and only its own; the validation task carries the account
// URL the challenge POST was signed with (its kid), for accounturi.
func TestCAAIdentitiesAndAccountURL(t *testing.T) {
	pol, err := policy.Parse([]byte(`{"profiles":{"acme":{"allowAnyName":true,"caaIdentities":["CA.Corp.Example"]},
		"plain":{"allowAnyName":true}}}`))
	if err != nil {
		t.Fatal(err)
	}
	log := &taskLog{}
	e := newEnv(t, func(p *acmefn.Parts) { p.Policy = pol; log.next = p.Queue; p.Queue = log })
	for profile, want := range map[string][]string{"acme": {"ca.corp.example"}, "plain": nil} {
		res, err := http.Get(e.srv.URL + "/acme/" + profile + "/directory")
		if err != nil {
			t.Fatal(err)
		}
		var d struct {
			Meta struct{ CAAIdentities []string }
		}
		err = json.NewDecoder(res.Body).Decode(&d)
		res.Body.Close()
		if err != nil || !slices.Equal(d.Meta.CAAIdentities, want) {
			t.Errorf("%s directory meta.caaIdentities %q (%v), want %q", profile, d.Meta.CAAIdentities, err, want)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c := e.client(t)
	e.issueIP(t, ctx, c) // an IP identifier: no CAA, so no DNS
	log.mu.Lock()
	defer log.mu.Unlock()
	var validate []queue.Task
	for _, tk := range log.tasks {
		if tk.Kind == queue.KindValidate {
			validate = append(validate, tk)
		}
	}
	if len(validate) == 0 || validate[0].AccountURL == "" || validate[0].AccountURL != string(c.KID) {
		t.Fatalf("validation tasks %+v, want the account URL %q", validate, c.KID)
	}
}
