package va

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/acmera/acmera/pkg/problem"
)

const (
	// maxTXTRecords bounds how many TXT records dns-01 looks at: more than
	// this at one name is refused rather than searched.
	maxTXTRecords = 100
	// maxTXTBytes bounds one TXT record (its character strings joined):
	// the expected value is 43 bytes, so a longer record is counted as
	// oversized and never compared.
	maxTXTBytes = 4 * 255
)

// dns01 performs one dns-01 attempt (RFC 8555 §8.4): look up TXT records at
// _acme-challenge.{name}, following CNAMEs, and accept if any equals
// base64url(SHA-256(key authorization)). The detail counts the records it
// saw but never quotes them.
func (v *Validator) dns01(ctx context.Context, t target, req Request) *failure {
	name := "_acme-challenge." + t.name
	tried := "DNS TXT lookup for " + name
	txts, err := v.resolver.lookupTXT(ctx, name)
	var de *dnsError
	if errors.As(err, &de) {
		return &failure{typ: problem.DNS, tried: tried, seen: de.what, transient: de.transient}
	}
	if err != nil {
		return netFailure(tried, err, true)
	}
	if len(txts) == 0 {
		return fail(problem.IncorrectResponse, tried, "no TXT records found, want the digest of the key authorization")
	}
	if len(txts) > maxTXTRecords {
		return fail(problem.IncorrectResponse, tried, "more than %d TXT records", maxTXTRecords).
			with(slog.Int("txt_records", len(txts)))
	}
	want := dns01Value(req.KeyAuthorization)
	oversized := 0
	for _, txt := range txts {
		if len(txt) > maxTXTBytes {
			oversized++
			continue
		}
		if txt == want {
			return nil
		}
	}
	seen := fmt.Sprintf("no TXT record matched the expected digest; %d records seen", len(txts))
	if len(txts) == 1 {
		seen = "no TXT record matched the expected digest; 1 record seen"
	}
	if oversized > 0 {
		seen += fmt.Sprintf(" (%d over %d bytes, ignored)", oversized, maxTXTBytes)
	}
	return fail(problem.IncorrectResponse, tried, "%s", seen)
}
