package ra

import (
	"context"
	"testing"
	"time"

	"github.com/acmera/acmera/pkg/acme"
	"github.com/acmera/acmera/pkg/core"
)

func TestResultWaiters(t *testing.T) {
	tests := []struct {
		name    string
		notify  bool
		cancel  bool
		limit   time.Duration
		maxTook time.Duration
		minTook time.Duration
	}{
		{"notified", true, false, 5 * time.Second, 2 * time.Second, 0},
		{"times out", false, false, 50 * time.Millisecond, 2 * time.Second, 50 * time.Millisecond},
		{"context done", false, true, 5 * time.Second, 2 * time.Second, 0},
		{"no wait", false, false, 0, time.Second, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			w := newResultWaiters()
			ctx, cancel := context.WithCancel(t.Context())
			defer cancel()
			wait := w.register("k")
			w.register("other")(ctx, 0) // a finished wait leaves nothing behind
			if tc.notify {
				time.AfterFunc(20*time.Millisecond, func() { w.notify("k") })
			}
			if tc.cancel {
				time.AfterFunc(20*time.Millisecond, cancel)
			}
			start := time.Now()
			wait(ctx, tc.limit)
			took := time.Since(start)
			if took > tc.maxTook || took < tc.minTook {
				t.Fatalf("wait took %v, want between %v and %v", took, tc.minTook, tc.maxTook)
			}
			w.notify("nobody") // dropped
			if len(w.m) != 0 {
				t.Fatalf("%d entries left after the waits ended", len(w.m))
			}
		})
	}
}

// With PollWait set, polling a processing authorization answers with the
// result recorded meanwhile; without it the poll answers processing at
// once; and a wait that sees no result answers processing after PollWait.
func TestPollWaitsForValidation(t *testing.T) {
	tests := []struct {
		name    string
		wait    time.Duration
		runTask bool
		want    core.Status
		minTook time.Duration
		maxTook time.Duration
	}{
		{"result arrives", 5 * time.Second, true, core.StatusValid, 0, 4 * time.Second},
		{"disabled", 0, true, core.StatusPending, 0, time.Second},
		{"result late", 100 * time.Millisecond, false, core.StatusPending, 100 * time.Millisecond, 4 * time.Second},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, 0)
			f.ra.pollWait = tc.wait
			ctx := t.Context()
			o, err := f.ra.NewOrder(ctx, f.acct, NewOrderRequest{Profile: "acme", Identifiers: []acme.Identifier{{Type: "ip", Value: "127.0.0.1"}}})
			if err != nil {
				t.Fatal(err)
			}
			az, _ := f.ra.Authorization(ctx, f.acct, o.AuthzIDs[0])
			if _, _, err := f.ra.AnswerChallenge(ctx, f.acct, ChallengeAnswer{AuthzID: az.ID, ChallengeID: az.Challenges[0].ID}); err != nil {
				t.Fatal(err)
			}
			done := make(chan struct{})
			if !tc.runTask {
				close(done)
			} else {
				time.AfterFunc(30*time.Millisecond, func() {
					defer close(done)
					f.q.mu.Lock()
					task := f.q.tasks[0]
					f.q.tasks = f.q.tasks[1:]
					f.q.mu.Unlock()
					if err := f.ra.HandleTask(context.Background(), task); err != nil {
						t.Errorf("validation: %v", err)
					}
				})
			}
			start := time.Now()
			got, err := f.ra.Authorization(ctx, f.acct, az.ID)
			took := time.Since(start)
			if err != nil || got.Status != tc.want {
				t.Fatalf("poll: %v %v, want %s", got.Status, err, tc.want)
			}
			if took < tc.minTook || took > tc.maxTook {
				t.Fatalf("poll took %v, want between %v and %v", took, tc.minTook, tc.maxTook)
			}
			// The task must finish before the fixture closes its store.
			select {
			case <-done:
			case <-time.After(10 * time.Second):
				t.Fatal("the validation task did not finish")
			}
		})
	}
}

// A poll of an order left processing by a transient CA failure answers
// with the result of the retry that runs meanwhile.
func TestPollWaitsForFinalizeRetry(t *testing.T) {
	f := newFixture(t, 1)
	f.ra.pollWait = 5 * time.Second
	o := f.readyOrder(t)
	got, err := f.ra.Finalize(t.Context(), f.acct, o.ID, csrDER(t))
	if err != nil || got.Status != core.StatusProcessing {
		t.Fatalf("finalize with the CA down: %v %v, want processing", got.Status, err)
	}
	time.AfterFunc(30*time.Millisecond, func() {
		for _, err := range f.runTasks(t) {
			if err != nil {
				t.Errorf("finalize retry: %v", err)
			}
		}
	})
	start := time.Now()
	got, err = f.ra.Order(t.Context(), f.acct, o.ID)
	if err != nil || got.Status != core.StatusValid {
		t.Fatalf("poll: %v %v, want valid", got.Status, err)
	}
	if took := time.Since(start); took > 4*time.Second {
		t.Fatalf("poll took %v: the retry's result did not wake it", took)
	}
}
