// Package queue defines the work acmera defers to the validator: validating
// a challenge and retrying a finalize. A Task has a deterministic name, so a
// duplicate enqueue or a redelivery is harmless. Implementations: cloudtasks
// (Cloud Tasks HTTP tasks with OIDC tokens) and inproc (embedded default).
package queue

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"
)

// Kinds of task.
const (
	KindValidate = "validate"
	KindFinalize = "finalize"
	// KindReconcile runs one reconciler pass (ra.Reconciler): it is what a
	// schedule (Cloud Scheduler) posts to the validator, where background
	// work gets no CPU between requests. It names no object.
	KindReconcile = "reconcile"
)

// Task is one unit of deferred work.
type Task struct {
	Kind string `json:"kind"`
	// Profile is the ACME profile the object belongs to.
	Profile string `json:"profile,omitempty"`
	// AuthzID and ChallengeID name the challenge to validate (KindValidate).
	AuthzID     string `json:"authz,omitempty"`
	ChallengeID string `json:"challenge,omitempty"`
	// OrderID names the order whose finalize to retry (KindFinalize).
	OrderID string `json:"order,omitempty"`
	// Thumbprint is the account key's RFC 7638 thumbprint when the task was
	// made (KindValidate), so the validator needs no account read to build
	// the key authorization. Optional: without it the account is read.
	Thumbprint string `json:"thumbprint,omitempty"`
	// AccountURL is the account URL the client signed the challenge POST
	// with (its JWS kid), for CAA's accounturi (RFC 8657 §3), since the
	// validator may not know the public base URL (KindValidate).
	// Optional: a task without it (one queued before the field existed, or
	// re-queued where no request names the URL) still decodes, and then a
	// CAA record with accounturi does not authorize.
	AccountURL string `json:"accountURL,omitempty"`
	// After delays the task's first run by this long (a Cloud Tasks
	// schedule_time; the in-process queue's retry heap). It is a scheduling
	// instruction, not part of the task's body.
	After time.Duration `json:"-"`
}

// Name is the task's deterministic name: the same work always has the same
// name, so Cloud Tasks rejects a duplicate with AlreadyExists. It uses only
// [A-Za-z0-9_-], as Cloud Tasks requires.
func (t Task) Name() string {
	switch t.Kind {
	case KindValidate:
		return "v-" + t.AuthzID + "-" + t.ChallengeID
	case KindFinalize:
		return "f-" + t.OrderID
	case KindReconcile:
		return "r"
	}
	return "x-" + strings.Join([]string{t.Kind, t.AuthzID, t.ChallengeID, t.OrderID}, "-")
}

// Validate reports whether t names its work completely.
func (t Task) Validate() error {
	switch t.Kind {
	case KindValidate:
		if t.AuthzID == "" || t.ChallengeID == "" {
			return fmt.Errorf("queue: validate task needs authz and challenge")
		}
	case KindFinalize:
		if t.OrderID == "" {
			return fmt.Errorf("queue: finalize task needs order")
		}
	case KindReconcile:
		if t.AuthzID != "" || t.ChallengeID != "" || t.OrderID != "" {
			return fmt.Errorf("queue: reconcile task names no object")
		}
	default:
		return fmt.Errorf("queue: unknown task kind %q", t.Kind)
	}
	return nil
}

// Encode returns the task's JSON body.
func (t Task) Encode() ([]byte, error) {
	b, err := json.Marshal(t)
	if err != nil {
		return nil, fmt.Errorf("json.Marshal task: %w", err)
	}
	return b, nil
}

// Decode parses and checks a task body.
func Decode(body []byte) (Task, error) {
	var t Task
	if err := json.Unmarshal(body, &t); err != nil {
		return Task{}, fmt.Errorf("queue: decode task: %w", err)
	}
	if err := t.Validate(); err != nil {
		return Task{}, err
	}
	return t, nil
}

// Enqueuer schedules tasks. Enqueueing a task whose name was already
// enqueued succeeds without scheduling it twice.
type Enqueuer interface {
	Enqueue(ctx context.Context, t Task) error
}

// Canceler is an Enqueuer that can take back a task still waiting for its
// time (a delayed task, or one waiting for a retry) once its work is done
// another way, so it never runs. Cancelling a task that is unknown, due,
// running or finished is a no-op; a cancelled name may be enqueued again.
// It is an optimisation, never needed for correctness: a task that runs
// anyway finds its work done.
type Canceler interface {
	Cancel(ctx context.Context, t Task) error
}

// Handler runs a task. A nil error means the task is done (including "done
// as a recorded failure"); a non-nil error asks for a retry.
type Handler interface {
	HandleTask(ctx context.Context, t Task) error
}

// HandlerFunc adapts a function to Handler.
type HandlerFunc func(ctx context.Context, t Task) error

// HandleTask implements Handler.
func (f HandlerFunc) HandleTask(ctx context.Context, t Task) error { return f(ctx, t) }
