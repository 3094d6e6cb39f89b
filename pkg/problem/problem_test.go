package problem

import "testing"

// Unauthorized is 403 by default; only a deactivated account's request
// is refused with 401 (RFC 8555 §7.3.6).
func TestUnauthorizedStatuses(t *testing.T) {
	for _, tc := range []struct {
		p      *Problem
		status int
	}{
		{Unauthorizedf("this order belongs to another account"), 403},
		{New(Unauthorized, "x"), 403},
		{AccountDeactivatedf("account is %s", "deactivated"), 401},
	} {
		if tc.p.Type != Unauthorized || tc.p.Status != tc.status {
			t.Errorf("%q: %s %d, want unauthorized %d", tc.p.Detail, tc.p.Type, tc.p.Status, tc.status)
		}
	}
	if d := AccountDeactivatedf("account is %s", "deactivated").Detail; d != "account is deactivated" {
		t.Errorf("detail %q", d)
	}
}

func TestTruncate(t *testing.T) {
	for _, tc := range []struct {
		in   string
		n    int
		want string
	}{
		{"short", 10, "short"},
		{"abcdef", 3, "abc…"},
		{"bücher", 2, "b…"}, // ü is two bytes: never split
		{"bücher", 3, "bü…"},
	} {
		if got := Truncate(tc.in, tc.n); got != tc.want {
			t.Errorf("Truncate(%q, %d) = %q, want %q", tc.in, tc.n, got, tc.want)
		}
	}
}
