package ra

import (
	"slices"
	"strings"
	"testing"

	"github.com/acmera/acmera/pkg/problem"
)

func TestCheckContacts(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want string // the normalized contact, or "" when refused
		typ  problem.Type
		has  string
	}{
		{in: "mailto:user@example.com", want: "mailto:user@example.com"},
		{in: "mailto: user@example.com", want: "mailto:user@example.com"},
		{in: "  mailto:\tuser@example.com ", want: "mailto:user@example.com"},
		{in: "MAILTO:user@example.com", want: "mailto:user@example.com"},
		{in: "mailto: user @example.com", typ: problem.InvalidContact, has: "not a valid e-mail address"},
		{in: "mailto: ", typ: problem.InvalidContact, has: "not a valid e-mail address"},
		{in: "mailto:user@localhost", typ: problem.InvalidContact, has: "no domain with a dot"},
		{in: "mailto:a@b.example,c@d.example", typ: problem.InvalidContact, has: "exactly one"},
		{in: "mailto", typ: problem.UnsupportedContact, has: `"mailto"`},
		{in: "tel:+15555550100", typ: problem.UnsupportedContact, has: "tel:"},
	} {
		got, err := checkContacts([]string{tc.in})
		if tc.want != "" {
			if err != nil || !slices.Equal(got, []string{tc.want}) {
				t.Errorf("%q: %q, %v; want %q", tc.in, got, err, tc.want)
			}
			continue
		}
		p, ok := problem.Of(err)
		if !ok || p.Type != tc.typ || p.Status != 400 || !strings.Contains(p.Detail, tc.has) {
			t.Errorf("%q: %v; want 400 %s naming %q", tc.in, err, tc.typ, tc.has)
		}
	}
}
