// Package caa decides whether DNS Certification Authority Authorization
// records (RFC 8659) let this CA issue for a DNS name, with the ACME
// parameters of RFC 8657 (accounturi, validationmethods).
//
// It finds the relevant RRset by climbing from the name toward the root
// (RFC 8659 §3), then applies the issue or issuewild properties (§4.2,
// §4.3) and the issuer critical flag (§4.1) to the request. DNS queries go
// through a Resolver, which the caller provides (pkg/va's, with its
// configured servers and timeouts); this package does no I/O of its own.
//
// The outcome is a result, not a Go error: nil (issuance allowed) or the
// RFC 8555 §6.7 problem to record on the challenge, type caa (the records
// refuse) or dns (a lookup failed, which is never read as "no CAA").
// Details quote the refusing records and the name they were found at: DNS
// data the domain's holder published, not content fetched from a client.
package caa

import (
	"context"
	"fmt"
	"strings"

	"github.com/acmera/acmera/pkg/problem"
)

// Property tags this package understands (RFC 8659 §4.2-4.4). A critical
// record with any other tag refuses issuance (§4.1).
const (
	TagIssue     = "issue"
	TagIssueWild = "issuewild"
	TagIODEF     = "iodef"
)

// FlagCritical is the issuer critical flag (RFC 8659 §4.1: bit 0, 128).
const FlagCritical = 128

// maxQuoted bounds how many records a detail quotes, and maxValue how many
// bytes of each value.
const (
	maxQuoted = 4
	maxValue  = 200
)

// Record is one CAA resource record's data (RFC 8659 §4.1).
type Record struct {
	Flag  uint8
	Tag   string
	Value string
}

// String is the record in presentation form: 0 issue "ca.example".
func (r Record) String() string {
	return fmt.Sprintf("%d %s %q", r.Flag, r.Tag, problem.Truncate(r.Value, maxValue))
}

// Resolver looks up CAA records.
type Resolver interface {
	// LookupCAA returns the CAA RRset at name, CNAMEs followed (by the
	// resolver, at that name). No records, NOERROR or NXDOMAIN, is nil and
	// no error; any other outcome is an error whose text may be shown to a
	// client.
	LookupCAA(ctx context.Context, name string) ([]Record, error)
}

// Request is one name to check for one issuance.
type Request struct {
	// Name is the DNS identifier, lower case; for a wildcard, the base
	// name without "*.".
	Name string
	// Wildcard is set for a "*.Name" identifier: issuewild applies.
	Wildcard bool
	// Identities are this CA's issuer domain names (the profile's
	// caaIdentities), lower case, no trailing dot.
	Identities []string
	// AccountURL is the requesting ACME account's URL (RFC 8657 §3). Empty
	// when unknown: a record with an accounturi parameter then never
	// authorizes.
	AccountURL string
	// Method is the ACME challenge type the name was validated with
	// (RFC 8657 §4).
	Method string
}

// Check finds the relevant RRset of req.Name and reports whether it lets
// one of req.Identities issue. nil means allowed.
func Check(ctx context.Context, r Resolver, req Request) *problem.Problem {
	name := strings.TrimSuffix(strings.ToLower(req.Name), ".")
	at, rrs, err := relevant(ctx, r, name)
	if err != nil {
		return problem.New(problem.DNS, "checking CAA for %s: %s", name, err)
	}
	if len(rrs) == 0 {
		return nil // no CAA anywhere up the tree: any CA may issue (RFC 8659 §3)
	}
	return decide(at, rrs, req)
}

// relevant returns the relevant RRset of name and the name it is at (RFC
// 8659 §3): the CAA RRset of name if not empty, else of its parent, and so
// on up to, not including, the root. CNAMEs are the resolver's business at
// each name; the climb goes on from the parent of the name asked, never
// from a CNAME target. A failed lookup ends the search with its error.
func relevant(ctx context.Context, r Resolver, name string) (string, []Record, error) {
	labels := strings.Split(name, ".") // at most 127 labels: the loop is bounded
	for i := range labels {
		at := strings.Join(labels[i:], ".")
		if at == "" {
			continue
		}
		rrs, err := r.LookupCAA(ctx, at)
		if err != nil {
			return at, nil, err
		}
		if len(rrs) > 0 {
			return at, rrs, nil
		}
	}
	return "", nil, nil
}

// decide applies a non-empty relevant RRset found at name to req.
func decide(at string, rrs []Record, req Request) *problem.Problem {
	for _, rr := range rrs {
		if rr.Flag&FlagCritical != 0 && !known(rr.Tag) {
			return problem.New(problem.CAA,
				"CAA record %s at %s is critical with a property this CA does not understand; issuance is refused (RFC 8659 §4.1)", rr, at)
		}
	}
	set := properties(rrs, TagIssue)
	kind := "issue"
	if req.Wildcard {
		if wild := properties(rrs, TagIssueWild); len(wild) > 0 {
			set, kind = wild, "issuewild"
		}
	}
	if len(set) == 0 {
		return nil // no issue restriction for this kind of name (RFC 8659 §4.2, §4.3)
	}
	var refused []string
	for _, rr := range set {
		why := authorizes(rr, req)
		if why == "" {
			return nil
		}
		if len(refused) < maxQuoted {
			refused = append(refused, rr.String()+" ("+why+")")
		}
	}
	if extra := len(set) - len(refused); extra > 0 {
		refused = append(refused, fmt.Sprintf("and %d more", extra))
	}
	return problem.New(problem.CAA, "CAA %s records at %s do not authorize %s: %s",
		kind, at, strings.Join(req.Identities, ", "), strings.Join(refused, "; "))
}

// known reports whether tag is a property this package understands; tags
// match case-insensitively (RFC 8659 §4.1).
func known(tag string) bool {
	switch strings.ToLower(tag) {
	case TagIssue, TagIssueWild, TagIODEF:
		return true
	}
	return false
}

// properties returns the records of rrs with tag (case-insensitive).
func properties(rrs []Record, tag string) []Record {
	var out []Record
	for _, rr := range rrs {
		if strings.EqualFold(rr.Tag, tag) {
			out = append(out, rr)
		}
	}
	return out
}

// authorizes returns "" when the issue or issuewild record rr authorizes
// req, else why not, for the detail.
func authorizes(rr Record, req Request) string {
	v, err := parseValue(rr.Value)
	switch {
	case err != nil:
		return "malformed: " + err.Error()
	case v.issuer == "":
		return "no issuer: forbids all issuance"
	case !matchIssuer(v.issuer, req.Identities):
		return "another issuer"
	}
	if uri, ok := v.params["accounturi"]; ok {
		switch {
		case req.AccountURL == "":
			return "accounturi set, and the account URL is unknown to this validation"
		case uri != req.AccountURL:
			return "accounturi is not this account"
		}
	}
	if methods, ok := v.params["validationmethods"]; ok && !listed(methods, req.Method) {
		return "validationmethods does not include " + req.Method
	}
	return ""
}

// matchIssuer reports whether issuer is one of ids, case-insensitively
// and ignoring a trailing dot.
func matchIssuer(issuer string, ids []string) bool {
	issuer = strings.TrimSuffix(issuer, ".")
	for _, id := range ids {
		if strings.EqualFold(issuer, strings.TrimSuffix(id, ".")) {
			return true
		}
	}
	return false
}

// listed reports whether method is one of the comma-separated labels of a
// validationmethods value (RFC 8657 §4: label = 1*(ALPHA / DIGIT / "-")).
// A value that is not such a list lists nothing.
func listed(value, method string) bool {
	labels := strings.Split(value, ",")
	for _, l := range labels {
		if l == "" || strings.TrimLeft(l, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-") != "" {
			return false
		}
	}
	for _, l := range labels {
		if l == method {
			return true
		}
	}
	return false
}
