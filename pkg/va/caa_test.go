package va

import (
	"strings"
	"testing"

	"github.com/acmera/acmera/pkg/acme"
	"github.com/acmera/acmera/pkg/problem"
)

const (
	caaCA   = "ca.corp.test"
	caaAcct = "https://acme.corp.test/acme/acme/account/a1"
)

// caaZone publishes CAA records under corp.test, and the dns-01 record of
// every name the tests validate (the challenge must pass first).
func caaZone(t *testing.T, d *testDNS) {
	d.add(t,
		`allow.corp.test. 60 IN CAA 0 issue "`+caaCA+`"`,
		`other.corp.test. 60 IN CAA 0 issue "other-ca.test"`,
		`empty.corp.test. 60 IN CAA 0 issue ";"`,
		`wild.corp.test. 60 IN CAA 0 issue ";"`,
		`wild.corp.test. 60 IN CAA 0 issuewild "`+caaCA+`"`,
		`nowild.corp.test. 60 IN CAA 0 issue "`+caaCA+`"`,
		`nowild.corp.test. 60 IN CAA 0 issuewild ";"`,
		`fallback.corp.test. 60 IN CAA 0 issue "`+caaCA+`"`,
		`acct.corp.test. 60 IN CAA 0 issue "`+caaCA+`; accounturi=`+caaAcct+`"`,
		`methods.corp.test. 60 IN CAA 0 issue "`+caaCA+`; validationmethods=http-01,dns-01"`,
		`httponly.corp.test. 60 IN CAA 0 issue "`+caaCA+`; validationmethods=http-01"`,
		`crit.corp.test. 60 IN CAA 0 issue "`+caaCA+`"`,
		`crit.corp.test. 60 IN CAA 128 tbs "unknown"`,
		`noncrit.corp.test. 60 IN CAA 0 issue "`+caaCA+`"`,
		`noncrit.corp.test. 60 IN CAA 0 tbs "unknown"`,
		`parent.corp.test. 60 IN CAA 0 issue "other-ca.test"`,
		// The name is an alias: the target's RRset is the name's.
		`alias.corp.test. 60 IN CNAME target.elsewhere.test.`,
		`target.elsewhere.test. 60 IN CAA 0 issue "other-ca.test"`,
		// An alias whose target has no CAA: the climb goes on from the
		// name's parent (which allows), never from the target's (which
		// refuses).
		`hop.allow.corp.test. 60 IN CNAME bare.deny.test.`,
		`bare.deny.test. 60 IN A 127.0.0.1`,
		`deny.test. 60 IN CAA 0 issue ";"`,
		`nocaa.test. 60 IN A 127.0.0.1`,
	)
	for _, n := range []string{"allow", "other", "empty", "wild", "nowild", "fallback", "acct", "methods", "httponly",
		"crit", "noncrit", "www.parent", "alias", "hop.allow", "servfail", "sub.servfail"} {
		d.add(t, `_acme-challenge.`+n+`.corp.test. 60 IN TXT "`+expectedTXT()+`"`)
	}
	d.add(t, `_acme-challenge.www.nocaa.test. 60 IN TXT "`+expectedTXT()+`"`)
	d.mu.Lock()
	defer d.mu.Unlock()
	d.servfail["servfail.corp.test."] = true
}

// caaQueries counts the CAA queries d received.
func (d *testDNS) caaQueries() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	n := 0
	for k, c := range d.queries {
		if strings.Contains(k, "/CAA/") {
			n += c
		}
	}
	return n
}

// TestCAA runs dns-01 validations that pass, then the CAA check, through a
// real DNS server on loopback.
func TestCAA(t *testing.T) {
	for _, flatten := range []bool{false, true} {
		d := startDNS(t, flatten)
		caaZone(t, d)
		v := newTestValidator(t, Config{Resolvers: []string{d.addr}})
		on := &CAA{Identities: []string{caaCA}, AccountURL: caaAcct}
		tests := []struct {
			name    string
			id      string
			caa     *CAA
			typ     problem.Type
			details []string
		}{
			{"allow", "allow.corp.test", on, "", nil},
			{"other CA", "other.corp.test", on, problem.CAA, []string{`0 issue "other-ca.test"`, "at other.corp.test"}},
			{"empty issuer", "empty.corp.test", on, problem.CAA, []string{`0 issue ";"`, "forbids all issuance"}},
			{"wildcard uses issuewild", "wild.corp.test", &CAA{Identities: []string{caaCA}, Wildcard: true}, "", nil},
			{"plain name ignores issuewild", "wild.corp.test", on, problem.CAA, []string{`0 issue ";"`}},
			{"wildcard refused by issuewild", "nowild.corp.test", &CAA{Identities: []string{caaCA}, Wildcard: true},
				problem.CAA, []string{`0 issuewild ";"`, "at nowild.corp.test"}},
			{"wildcard falls back to issue", "fallback.corp.test", &CAA{Identities: []string{caaCA}, Wildcard: true}, "", nil},
			{"accounturi match", "acct.corp.test", on, "", nil},
			{"accounturi mismatch", "acct.corp.test", &CAA{Identities: []string{caaCA}, AccountURL: caaAcct + "x"},
				problem.CAA, []string{"accounturi=" + caaAcct, "accounturi is not this account"}},
			{"accounturi, account URL unknown", "acct.corp.test", &CAA{Identities: []string{caaCA}},
				problem.CAA, []string{"account URL is unknown"}},
			{"validationmethods match", "methods.corp.test", on, "", nil},
			{"validationmethods mismatch", "httponly.corp.test", on, problem.CAA, []string{"does not include dns-01"}},
			{"critical unknown tag", "crit.corp.test", on, problem.CAA, []string{`128 tbs "unknown"`, "critical"}},
			{"non-critical unknown tag", "noncrit.corp.test", on, "", nil},
			{"record at parent", "www.parent.corp.test", on, problem.CAA, []string{"at parent.corp.test"}},
			{"CNAME at the name", "alias.corp.test", on, problem.CAA, []string{`"other-ca.test"`, "at alias.corp.test"}},
			{"no climb from a CNAME target", "hop.allow.corp.test", on, "", nil},
			{"SERVFAIL", "servfail.corp.test", on, problem.DNS, []string{"CAA", "servfail.corp.test", "SERVFAIL"}},
			{"SERVFAIL at parent", "sub.servfail.corp.test", on, problem.DNS, []string{"servfail.corp.test: SERVFAIL"}},
			{"no records", "www.nocaa.test", on, "", nil},
			{"other CA, identities case and dot", "allow.corp.test", &CAA{Identities: []string{"CA.corp.test."}}, "", nil},
		}
		for _, tc := range tests {
			t.Run(map[bool]string{false: "auth/", true: "recursive/"}[flatten]+tc.name, func(t *testing.T) {
				p := validate(t, v, Request{Identifier: acme.Identifier{Type: acme.IdentifierDNS, Value: tc.id},
					Type: acme.ChallengeDNS01, Token: dnsToken, KeyAuthorization: keyAuthFor(dnsToken), CAA: tc.caa})
				wantProblem(t, p, tc.typ, tc.details...)
			})
		}
	}
}

// TestCAAOff checks that a request without CAA identities (a profile
// without caaIdentities), an IP identifier and a failed challenge make no
// CAA lookup at all.
func TestCAAOff(t *testing.T) {
	d := startDNS(t, false)
	caaZone(t, d)
	v := newTestValidator(t, Config{Resolvers: []string{d.addr}})
	for _, req := range []Request{
		{Identifier: acme.Identifier{Type: acme.IdentifierDNS, Value: "empty.corp.test"}, Type: acme.ChallengeDNS01,
			Token: dnsToken, KeyAuthorization: keyAuthFor(dnsToken)},
		{Identifier: acme.Identifier{Type: acme.IdentifierDNS, Value: "empty.corp.test"}, Type: acme.ChallengeDNS01,
			Token: dnsToken, KeyAuthorization: keyAuthFor(dnsToken), CAA: &CAA{}},
	} {
		wantProblem(t, validate(t, v, req), "")
	}
	// A failed challenge is reported as such, with no CAA lookup.
	p := validate(t, v, Request{Identifier: acme.Identifier{Type: acme.IdentifierDNS, Value: "nothing.corp.test"},
		Type: acme.ChallengeDNS01, Token: dnsToken, KeyAuthorization: keyAuthFor(dnsToken), CAA: &CAA{Identities: []string{caaCA}}})
	wantProblem(t, p, problem.DNS, "TXT")
	if n := d.caaQueries(); n != 0 {
		t.Errorf("%d CAA queries, want none", n)
	}
}

// TestCAARetries checks that a SERVFAIL is asked again Attempts times, and
// no more, before the dns problem.
func TestCAARetries(t *testing.T) {
	d := startDNS(t, false)
	caaZone(t, d)
	v := newTestValidator(t, Config{Resolvers: []string{d.addr}, Attempts: 2})
	p := validate(t, v, Request{Identifier: acme.Identifier{Type: acme.IdentifierDNS, Value: "servfail.corp.test"},
		Type: acme.ChallengeDNS01, Token: dnsToken, KeyAuthorization: keyAuthFor(dnsToken), CAA: &CAA{Identities: []string{caaCA}}})
	wantProblem(t, p, problem.DNS, "SERVFAIL")
	if n := d.count("servfail.corp.test.", "CAA", "udp"); n != 2 {
		t.Errorf("%d CAA queries for the failing name, want 2 (Attempts)", n)
	}
}
