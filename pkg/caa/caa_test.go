package caa

import (
	"context"
	"errors"
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/acmera/acmera/pkg/problem"
)

// zone is a Resolver answering from a map, recording the names asked.
// (pkg/va's tests run the same checks through a real DNS server.)
type zone struct {
	rrs   map[string][]Record
	fail  map[string]error
	asked []string
}

func (z *zone) LookupCAA(_ context.Context, name string) ([]Record, error) {
	z.asked = append(z.asked, name)
	if err := z.fail[name]; err != nil {
		return nil, err
	}
	return z.rrs[name], nil
}

const (
	ca   = "ca.corp.example"
	acct = "https://acme.corp.example/acme/acme/account/abc"
)

func issue(v string) Record     { return Record{Tag: "issue", Value: v} }
func issueWild(v string) Record { return Record{Tag: "issuewild", Value: v} }

func TestCheck(t *testing.T) {
	base := Request{Name: "www.app.corp.example", Identities: []string{ca}, AccountURL: acct, Method: "http-01"}
	with := func(f func(*Request)) Request { r := base; f(&r); return r }
	tests := []struct {
		name    string
		rrs     map[string][]Record
		fail    map[string]error
		req     Request
		want    problem.Type // "" = allowed
		details []string
		asked   []string // checked when set
	}{
		{name: "no records", req: base,
			asked: []string{"www.app.corp.example", "app.corp.example", "corp.example", "example"}},
		{name: "allow", rrs: map[string][]Record{"www.app.corp.example": {issue(ca)}}, req: base,
			asked: []string{"www.app.corp.example"}},
		{name: "allow case and trailing dot", rrs: map[string][]Record{"www.app.corp.example": {issue("CA.Corp.Example.")}}, req: base},
		{name: "other CA", rrs: map[string][]Record{"www.app.corp.example": {issue("other.example")}}, req: base,
			want: problem.CAA, details: []string{`0 issue "other.example"`, "at www.app.corp.example", "another issuer"}},
		{name: "one of two", rrs: map[string][]Record{"corp.example": {issue("other.example"), issue(ca)}}, req: base},
		{name: "empty issuer", rrs: map[string][]Record{"corp.example": {issue(";")}}, req: base,
			want: problem.CAA, details: []string{`0 issue ";"`, "at corp.example", "forbids all issuance"}},
		{name: "empty value", rrs: map[string][]Record{"corp.example": {issue("")}}, req: base, want: problem.CAA},
		{name: "parent record", rrs: map[string][]Record{"corp.example": {issue(ca)}}, req: base,
			asked: []string{"www.app.corp.example", "app.corp.example", "corp.example"}},
		{name: "closest set wins", rrs: map[string][]Record{"app.corp.example": {issue("other.example")}, "corp.example": {issue(ca)}},
			req: base, want: problem.CAA, details: []string{"at app.corp.example"}},
		{name: "only iodef", rrs: map[string][]Record{"corp.example": {{Tag: "iodef", Value: "mailto:x@corp.example"}}}, req: base},
		{name: "critical iodef is understood", rrs: map[string][]Record{"corp.example": {{Flag: 128, Tag: "iodef", Value: "mailto:x@corp.example"}, issue(ca)}}, req: base},
		{name: "critical unknown", rrs: map[string][]Record{"corp.example": {issue(ca), {Flag: 128, Tag: "tbs", Value: "x"}}}, req: base,
			want: problem.CAA, details: []string{`128 tbs "x"`, "critical"}},
		{name: "non-critical unknown", rrs: map[string][]Record{"corp.example": {issue(ca), {Tag: "tbs", Value: "x"}}}, req: base},
		{name: "unknown only, other flags", rrs: map[string][]Record{"corp.example": {{Flag: 1, Tag: "tbs", Value: "x"}}}, req: base},
		{name: "tag case", rrs: map[string][]Record{"corp.example": {{Tag: "ISSUE", Value: "other.example"}}}, req: base, want: problem.CAA},
		{name: "issuewild ignored for a plain name", rrs: map[string][]Record{"corp.example": {issueWild(";"), issue(ca)}}, req: base},
		{name: "issuewild only, plain name", rrs: map[string][]Record{"corp.example": {issueWild(";")}}, req: base},
		{name: "wildcard uses issuewild", rrs: map[string][]Record{"corp.example": {issue(";"), issueWild(ca)}},
			req: with(func(r *Request) { r.Wildcard, r.Method = true, "dns-01" })},
		{name: "wildcard refused by issuewild", rrs: map[string][]Record{"corp.example": {issue(ca), issueWild(";")}},
			req: with(func(r *Request) { r.Wildcard = true }), want: problem.CAA, details: []string{"issuewild records", `0 issuewild ";"`}},
		{name: "wildcard falls back to issue", rrs: map[string][]Record{"corp.example": {issue("other.example")}},
			req: with(func(r *Request) { r.Wildcard = true }), want: problem.CAA, details: []string{"issue records"}},
		{name: "accounturi match", rrs: map[string][]Record{"corp.example": {issue(ca + "; accounturi=" + acct)}}, req: base},
		{name: "accounturi mismatch", rrs: map[string][]Record{"corp.example": {issue(ca + "; accounturi=" + acct + "x")}}, req: base,
			want: problem.CAA, details: []string{"accounturi is not this account"}},
		{name: "accounturi, account unknown", rrs: map[string][]Record{"corp.example": {issue(ca + "; accounturi=" + acct)}},
			req: with(func(r *Request) { r.AccountURL = "" }), want: problem.CAA, details: []string{"account URL is unknown"}},
		{name: "validationmethods match", rrs: map[string][]Record{"corp.example": {issue(ca + "; validationmethods=dns-01,http-01")}}, req: base},
		{name: "validationmethods mismatch", rrs: map[string][]Record{"corp.example": {issue(ca + "; validationmethods=dns-01")}}, req: base,
			want: problem.CAA, details: []string{"validationmethods does not include http-01"}},
		{name: "both parameters", rrs: map[string][]Record{"corp.example": {issue(ca + " ; accounturi = " + acct + " ; validationmethods=http-01 ")}}, req: base},
		{name: "unknown parameter ignored", rrs: map[string][]Record{"corp.example": {issue(ca + "; policy=ev")}}, req: base},
		{name: "malformed is not authorizing", rrs: map[string][]Record{"corp.example": {issue(ca + " junk")}}, req: base,
			want: problem.CAA, details: []string{"malformed"}},
		{name: "many records quoted up to a bound", rrs: map[string][]Record{"corp.example": {issue("a.example"), issue("b.example"),
			issue("c.example"), issue("d.example"), issue("e.example"), issue("f.example")}}, req: base,
			want: problem.CAA, details: []string{`"d.example"`, "and 2 more"}},
		{name: "lookup failure", fail: map[string]error{"app.corp.example": errors.New("DNS CAA lookup for app.corp.example: SERVFAIL")},
			req: base, want: problem.DNS, details: []string{"SERVFAIL", "app.corp.example"},
			asked: []string{"www.app.corp.example", "app.corp.example"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			z := &zone{rrs: tt.rrs, fail: tt.fail}
			p := Check(context.Background(), z, tt.req)
			if tt.asked != nil && !slices.Equal(z.asked, tt.asked) {
				t.Errorf("asked %q, want %q", z.asked, tt.asked)
			}
			if tt.want == "" {
				if p != nil {
					t.Fatalf("Check = %v, want allowed", p)
				}
				return
			}
			if p == nil || p.Type != tt.want {
				t.Fatalf("Check = %v, want %s", p, tt.want)
			}
			for _, d := range tt.details {
				if !strings.Contains(p.Detail, d) {
					t.Errorf("detail %q does not contain %q", p.Detail, d)
				}
			}
		})
	}
}

func TestParseValue(t *testing.T) {
	tests := []struct {
		in     string
		issuer string
		params map[string]string
		bad    bool
	}{
		{in: "ca.example", issuer: "ca.example"},
		{in: "  CA.Example.  ", issuer: "ca.example"},
		{in: ";", issuer: ""},
		{in: "", issuer: ""},
		{in: " ; ", issuer: ""},
		{in: "ca.example;", issuer: "ca.example"},
		{in: "ca.example; a=1", issuer: "ca.example", params: map[string]string{"a": "1"}},
		{in: "ca.example;a=1;b-c=x:y/z?", issuer: "ca.example", params: map[string]string{"a": "1", "b-c": "x:y/z?"}},
		{in: "ca.example; a = 1 ;\tb=", issuer: "ca.example", params: map[string]string{"a": "1", "b": ""}},
		{in: "; Accounturi=https://x/1", params: map[string]string{"accounturi": "https://x/1"}},
		{in: "ca..example", bad: true},
		{in: "-ca.example", bad: true},
		{in: "ca_x.example", bad: true},
		{in: "ca.example x", bad: true},
		{in: "ca.example; a=1;", bad: true},
		{in: "ca.example; a", bad: true},
		{in: "ca.example; =1", bad: true},
		{in: "ca.example; a=1 b=2", bad: true},
		{in: "ca.example; a=1; a=2", bad: true},
		{in: "ca.example; a=\x01", bad: true},
		{in: "ca.example; a=é", bad: true},
	}
	for _, tt := range tests {
		v, err := parseValue(tt.in)
		if tt.bad {
			if err == nil {
				t.Errorf("parseValue(%q) = %+v, want an error", tt.in, v)
			}
			continue
		}
		if err != nil {
			t.Errorf("parseValue(%q): %v", tt.in, err)
			continue
		}
		if tt.params == nil {
			tt.params = map[string]string{}
		}
		if v.issuer != tt.issuer || !maps.Equal(v.params, tt.params) {
			t.Errorf("parseValue(%q) = %q %v, want %q %v", tt.in, v.issuer, v.params, tt.issuer, tt.params)
		}
	}
}

func TestListed(t *testing.T) {
	for _, tt := range []struct {
		value, method string
		want          bool
	}{
		{"dns-01", "dns-01", true},
		{"http-01,dns-01", "dns-01", true},
		{"http-01", "dns-01", false},
		{"DNS-01", "dns-01", false},
		{"", "dns-01", false},
		{"dns-01,", "dns-01", false},
		{"dns-01,http 01", "dns-01", false},
	} {
		if got := listed(tt.value, tt.method); got != tt.want {
			t.Errorf("listed(%q, %q) = %v, want %v", tt.value, tt.method, got, tt.want)
		}
	}
}
