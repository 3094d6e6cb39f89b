package va

import (
	"context"
	"errors"

	"github.com/acmera/acmera/pkg/problem"
)

// dns01 performs one dns-01 attempt (RFC 8555 §8.4): look up TXT records at
// _acme-challenge.{name}, following CNAMEs, and accept if any equals
// base64url(SHA-256(key authorization)).
func (v *Validator) dns01(ctx context.Context, t target, req Request) *failure {
	name := "_acme-challenge." + t.name
	tried := "DNS TXT lookup for " + name
	txts, err := v.resolver.lookupTXT(ctx, name)
	var de *dnsError
	if errors.As(err, &de) {
		return &failure{typ: problem.DNS, tried: tried, seen: de.what, transient: de.transient}
	}
	if err != nil {
		return netFailure(tried, err)
	}
	want := dns01Value(req.KeyAuthorization)
	for _, txt := range txts {
		if txt == want {
			return nil
		}
	}
	switch len(txts) {
	case 0:
		return fail(problem.IncorrectResponse, tried, "no TXT records found, expected %q", want)
	case 1:
		return fail(problem.IncorrectResponse, tried, "1 TXT record found, %s, expected %q", excerpt([]byte(txts[0])), want)
	}
	return fail(problem.IncorrectResponse, tried, "%d TXT records found, none equals the expected %q", len(txts), want)
}
