package wfe_test

import (
	"fmt"
	"strings"
	"time"
)

// newOrder sends A's newOrder with payload.
func (f *fixture) newOrder(payload any) *response { return f.a.do(f.newOrderURL(), payload) }

func (f *fixture) orderFor(typ, value string) *response { return f.newOrder(idents(typ, value)) }

// orderCases break newOrder's identifiers (RFC 8555 §7.1.4, §7.4; RFC
// 8738; RFC 1035 and RFC 5890 syntax).
func orderCases() []hostile {
	many := make([]string, 0, 202)
	for i := range 101 {
		many = append(many, "dns", fmt.Sprintf("n%d.example", i))
	}
	label63 := strings.Repeat("a", 63)
	name254 := label63 + "." + label63 + "." + label63 + "." + strings.Repeat("b", 54) + ".example"
	dns := func(name string, w want) hostile {
		return hostile{name: "order/dns " + fmt.Sprintf("%q", name), want: w,
			send: func(f *fixture) *response { return f.orderFor("dns", name) }}
	}
	return []hostile{
		{name: "order/101 identifiers", want: bad(400, "rejectedIdentifier", "100"),
			send: func(f *fixture) *response { return f.newOrder(idents(many...)) }},
		{name: "order/name of 254 characters", want: bad(400, "rejectedIdentifier", "253"),
			send: func(f *fixture) *response { return f.orderFor("dns", name254) }},
		{name: "order/label of 64 characters", want: bad(400, "malformed", "63"),
			send: func(f *fixture) *response { return f.orderFor("dns", label63+"a.example") }},
		dns("a_b.example", bad(400, "malformed", "a_b.example")),
		dns("-a.example", bad(400, "malformed", "hyphen")),
		dns("a-.example", bad(400, "malformed", "hyphen")),
		dns("", bad(400, "malformed", "empty")),
		dns("a..example", bad(400, "malformed", "empty label")),
		dns("a.example.", bad(400, "malformed", "dot")),
		dns("xn--zz.example", bad(400, "malformed", "xn--zz.example")),
		dns("a.*.example", bad(400, "malformed", "a.*.example")),
		dns("*.*.example", bad(400, "malformed", "invalid character", "*")),
		dns("*example.com", bad(400, "malformed", "*example.com")),
		// U+212A KELVIN SIGN: refused, and named as itself, not as its
		// first UTF-8 byte.
		dns("\u212a.example", want{status: 400, typ: "malformed", has: []string{"non-ASCII character", "\u212a"}, hasNot: []string{"â"}}),
		dns("a\x00b.example", bad(400, "malformed", "invalid character")),
		dns("10.0.0.1", bad(400, "malformed", "ip")),
		// A detail quotes a non-ASCII name as its characters.
		{name: "order/IDN characters quoted as characters",
			want: want{status: 400, typ: "malformed", has: []string{"bücher"}, hasNot: []string{"Ã"}},
			send: func(f *fixture) *response { return f.orderFor("dns", "bücher..example") }},
		{name: "order/unsupported identifier type", want: bad(400, "unsupportedIdentifier", "email"),
			send: func(f *fixture) *response { return f.orderFor("email", "a@example.com") }},
		{name: "order/IPv6 with a zone", want: bad(400, "malformed", "fe80::1%eth0"),
			send: func(f *fixture) *response { return f.orderFor("ip", "fe80::1%eth0") }},
		{name: "order/IP out of range", want: bad(400, "malformed", "300.1.1.1"),
			send: func(f *fixture) *response { return f.orderFor("ip", "300.1.1.1") }},
		{name: "order/IP prefix", want: bad(400, "malformed", "10.0.0.0/8"),
			send: func(f *fixture) *response { return f.orderFor("ip", "10.0.0.0/8") }},
	}
}

// orderRequestCases break the rest of a newOrder request and the order's
// resources (RFC 8555 §7.4, §7.5).
func orderRequestCases() []hostile {
	withTimes := func(nb, na string) map[string]any {
		m := idents("dns", "a.example")
		if nb != "" {
			m["notBefore"] = nb
		}
		if na != "" {
			m["notAfter"] = na
		}
		return m
	}
	soon := func(d time.Duration) string { return time.Now().Add(d).UTC().Format(time.RFC3339) }
	return []hostile{
		{name: "order/two bad identifiers of two kinds", want: bad(400, "compound", "2 identifiers"),
			send: func(f *fixture) *response {
				return f.newOrder(idents("dns", "ok.example", "dns", "-bad.example", "email", "x@example.com"))
			}},
		{name: "order/no identifiers", want: bad(400, "malformed", "no identifiers"),
			send: func(f *fixture) *response { return f.newOrder(idents()) }},
		{name: "order/identifiers missing", want: bad(400, "malformed", "no identifiers"),
			send: func(f *fixture) *response { return f.newOrder(map[string]any{}) }},
		{name: "order/identifiers not an array", want: bad(400, "malformed", "newOrder"),
			send: func(f *fixture) *response { return f.newOrder(map[string]any{"identifiers": "a.example"}) }},
		{name: "order/POST-as-GET to newOrder", want: bad(400, "malformed", "payload"),
			send: func(f *fixture) *response { return f.newOrder(nil) }},
		{name: "order/notBefore not a date", want: bad(400, "malformed", "notBefore"),
			send: func(f *fixture) *response { return f.newOrder(withTimes("yesterday", "")) }},
		{name: "order/notAfter not a date", want: bad(400, "malformed", "notAfter"),
			send: func(f *fixture) *response { return f.newOrder(withTimes("", "2030-13-01T00:00:00Z")) }},
		{name: "order/notAfter before notBefore", want: bad(400, "malformed", "notAfter"),
			send: func(f *fixture) *response { return f.newOrder(withTimes(soon(time.Hour), soon(30*time.Minute))) }},
		{name: "order/notAfter past the maximum", want: bad(400, "malformed", "maximum"),
			send: func(f *fixture) *response { return f.newOrder(withTimes("", "2099-01-01T00:00:00Z")) }},
		{name: "order/notBefore a day ago", want: bad(400, "malformed", "notBefore"),
			send: func(f *fixture) *response { return f.newOrder(withTimes(soon(-24*time.Hour), "")) }},
		{name: "order/unknown profile", want: bad(400, "invalidProfile", "nope"),
			send: func(f *fixture) *response {
				m := idents("dns", "a.example")
				m["profile"] = "nope"
				return f.newOrder(m)
			}},
		{name: "order/finalize of a pending order", want: bad(403, "orderNotReady", "pending"),
			send: func(f *fixture) *response {
				return f.a.do(f.pendingURL+"/finalize", csrFor(f.t, ecKey(p256), nil, "pending.example"))
			}},
		{name: "order/finalize of a valid order", want: bad(403, "orderNotReady", "valid"),
			send: func(f *fixture) *response {
				return f.a.do(f.validURL+"/finalize", csrFor(f.t, ecKey(p256), []string{"127.0.0.1"}))
			}},
		{name: "order/POST-as-GET with a payload", want: bad(400, "malformed", "POST-as-GET"),
			send: func(f *fixture) *response { return f.a.do(f.pendingURL, map[string]any{}) }},
		{name: "authz/update to status valid", want: bad(400, "malformed", "deactivated"),
			send: func(f *fixture) *response { return f.a.do(f.pendingAuthz, map[string]any{"status": "valid"}) }},
		{name: "challenge/answer that is not an object", want: bad(400, "malformed", "challenge"),
			send: func(f *fixture) *response { return f.a.do(f.pendingChall, []byte(`[]`)) }},
	}
}

// foreignCases are requests by one account for another's resources.
func foreignCases() []hostile {
	another := bad(403, "unauthorized", "another account")
	return []hostile{
		{name: "foreign/order GET", firestore: true, want: another,
			send: func(f *fixture) *response { return f.b.do(f.pendingURL, nil) }},
		{name: "foreign/order finalize", firestore: true, want: another,
			send: func(f *fixture) *response {
				return f.b.do(f.ready.Finalize, csrFor(f.t, ecKey(p256), []string{"127.0.0.1"}))
			},
			check: orderStaysReady},
		{name: "foreign/challenge answer", firestore: true, want: another,
			send: func(f *fixture) *response { return f.b.do(f.pendingChall, map[string]any{}) }},
		{name: "foreign/challenge GET", want: another,
			send: func(f *fixture) *response { return f.b.do(f.pendingChall, nil) }},
		{name: "foreign/authz deactivation", want: another,
			send: func(f *fixture) *response { return f.b.do(f.pendingAuthz, map[string]any{"status": "deactivated"}) }},
		{name: "foreign/authz GET", want: another,
			send: func(f *fixture) *response { return f.b.do(f.pendingAuthz, nil) }},
		{name: "foreign/certificate GET", want: another,
			send: func(f *fixture) *response { return f.b.do(f.certURL, nil) }},
		{name: "foreign/order of B read by A", want: another,
			send: func(f *fixture) *response { return f.a.do(f.bOrderURL, nil) }},
		{name: "foreign/account GET", want: another,
			send: func(f *fixture) *response { return f.b.do(f.a.kid, nil) }},
		{name: "foreign/account deactivation", want: another,
			send: func(f *fixture) *response { return f.b.do(f.a.kid, map[string]any{"status": "deactivated"}) }},
		{name: "foreign/account contact update", want: another,
			send: func(f *fixture) *response {
				return f.b.do(f.a.kid, map[string]any{"contact": []string{"mailto:evil@example.com"}})
			}},
		{name: "foreign/orders list", want: another,
			send: func(f *fixture) *response { return f.b.do(f.a.kid+"/orders", nil) }},
		{name: "foreign/B's challenge under A's authorization", want: bad(404, "malformed", "challenge"),
			send: func(f *fixture) *response {
				return f.a.do(f.pendingAuthz[:strings.Index(f.pendingAuthz, "/authz/")]+"/chall/"+
					lastSegment(f.pendingAuthz)+"/"+lastSegment(f.bChall), map[string]any{})
			}},
		{name: "foreign/revocation by another account", want: bad(403, "unauthorized", "account"),
			send: func(f *fixture) *response {
				return f.b.do(f.b.base+"/revoke-cert", map[string]any{"certificate": b64(f.certDER)})
			}},
		{name: "foreign/revocation signed by an unrelated jwk", want: bad(403, "unauthorized", "key"),
			send: func(f *fixture) *response {
				cl := f.client()
				url := cl.base + "/revoke-cert"
				return cl.do(url, map[string]any{"certificate": b64(f.certDER)})
			}},
		{name: "deactivated/account GET", want: bad(401, "unauthorized", "deactivated"),
			send: func(f *fixture) *response { return f.c.do(f.c.kid, nil) }},
	}
}
