package core

import (
	"testing"
	"time"

	"github.com/acmera/acmera/pkg/problem"
)

func authz(status Status, chs ...Status) *Authorization {
	a := &Authorization{Status: status}
	for i, s := range chs {
		a.Challenges = append(a.Challenges, Challenge{ID: string(rune('a' + i)), Status: s})
	}
	return a
}

func TestProcessing(t *testing.T) {
	for _, tc := range []struct {
		az   *Authorization
		want bool
	}{
		{authz(StatusPending, StatusPending, StatusProcessing), true},
		{authz(StatusPending, StatusPending, StatusPending), false},
		{authz(StatusValid, StatusProcessing), false},
	} {
		if got := tc.az.Processing(); got != tc.want {
			t.Errorf("%+v: Processing() = %v, want %v", tc.az, got, tc.want)
		}
	}
}

func TestApplyValidation(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	az := authz(StatusPending, StatusProcessing)
	if !ApplyValidation(az, ValidationResult{ChallengeID: "a", ValidatedAt: now, Expires: now.Add(time.Hour)}) {
		t.Fatal("valid result not applied")
	}
	if az.Status != StatusValid || az.Challenges[0].Status != StatusValid || !az.Expires.Equal(now.Add(time.Hour)) {
		t.Fatalf("after valid result: %+v", az)
	}
	if ApplyValidation(az, ValidationResult{ChallengeID: "a"}) {
		t.Fatal("a second result was applied")
	}
	bad := authz(StatusPending, StatusProcessing)
	p := problem.New(problem.IncorrectResponse, "wrong")
	if !ApplyValidation(bad, ValidationResult{ChallengeID: "a", Error: p}) || bad.Status != StatusInvalid || bad.Challenges[0].Error != p {
		t.Fatalf("after failed result: %+v", bad)
	}
	if ApplyValidation(authz(StatusPending, StatusPending), ValidationResult{ChallengeID: "a"}) {
		t.Fatal("result applied to a challenge that was not processing")
	}
}

func TestOrderStatusFromAuthzs(t *testing.T) {
	for _, tc := range []struct {
		in   []Status
		want Status
	}{
		{[]Status{StatusValid, StatusValid}, StatusReady},
		{[]Status{StatusValid, StatusPending}, StatusPending},
		{[]Status{StatusPending, StatusInvalid}, StatusInvalid},
		{[]Status{StatusValid, StatusDeactivated}, StatusInvalid},
	} {
		if got := OrderStatusFromAuthzs(tc.in); got != tc.want {
			t.Errorf("%v: got %s, want %s", tc.in, got, tc.want)
		}
	}
}

func TestStatusAtExpiry(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	az := &Authorization{Status: StatusValid, Expires: now}
	if az.StatusAt(now.Add(-time.Second)) != StatusValid || az.StatusAt(now) != StatusExpired {
		t.Fatal("authorization expiry")
	}
	o := &Order{Status: StatusReady, Expires: now}
	if o.StatusAt(now) != StatusInvalid {
		t.Fatal("ready order past expiry must be invalid")
	}
	o.Status = StatusValid
	if o.StatusAt(now.Add(time.Hour)) != StatusValid {
		t.Fatal("a valid order does not expire")
	}
}
