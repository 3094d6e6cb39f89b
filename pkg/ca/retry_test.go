package ca_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/acmera/acmera/pkg/ca"
)

// Do retries only what retryable accepts, at most Attempts times, with the
// backoff between attempts, and says whether the last failure is transient.
func TestRetryDo(t *testing.T) {
	errBusy, errBad := errors.New("busy"), errors.New("bad request")
	retryable := func(err error) bool { return errors.Is(err, errBusy) }
	for _, tc := range []struct {
		name          string
		fails         []error // what the attempts return, in turn; nil after
		wantAttempts  int
		wantErr       error
		wantTransient bool
		wantSleeps    []time.Duration
	}{
		{"succeeds at once", nil, 1, nil, false, nil},
		{"succeeds after two busy", []error{errBusy, errBusy}, 3, nil, false, []time.Duration{time.Second, 2 * time.Second}},
		{"refused at once", []error{errBad}, 1, errBad, false, nil},
		{"busy every time", []error{errBusy, errBusy, errBusy, errBusy}, 3, errBusy, true, []time.Duration{time.Second, 2 * time.Second}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var sleeps []time.Duration
			r := ca.Retry{Attempts: 3, BaseBackoff: time.Second, MaxBackoff: 5 * time.Second,
				Sleep: func(_ context.Context, d time.Duration) error { sleeps = append(sleeps, d); return nil }}.WithDefaults()
			calls := 0
			n, err, transient := r.Do(context.Background(), retryable, func(context.Context) error {
				calls++
				if calls <= len(tc.fails) {
					return tc.fails[calls-1]
				}
				return nil
			})
			if n != tc.wantAttempts || n != calls || !errors.Is(err, tc.wantErr) || (tc.wantErr == nil) != (err == nil) || transient != tc.wantTransient {
				t.Errorf("Do = %d, %v, transient %v (calls %d); want %d, %v, %v", n, err, transient, calls, tc.wantAttempts, tc.wantErr, tc.wantTransient)
			}
			if len(sleeps) != len(tc.wantSleeps) || (len(sleeps) > 0 && sleeps[len(sleeps)-1] != tc.wantSleeps[len(tc.wantSleeps)-1]) {
				t.Errorf("slept %v, want %v", sleeps, tc.wantSleeps)
			}
		})
	}
	// A done context ends the retries as transient, with no more sleeping.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	n, err, transient := ca.Retry{Attempts: 5}.WithDefaults().Do(ctx, retryable, func(context.Context) error { return errBad })
	if n != 1 || !errors.Is(err, errBad) || !transient {
		t.Errorf("done context: %d, %v, transient %v; want one attempt, transient", n, err, transient)
	}
}
