package policy

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/acmera/acmera/pkg/acme"
)

// FuzzNormalize checks Normalize on any identifier: it never panics, a
// refusal is a 4xx problem naming the identifier, and an accepted value is
// canonical (normalizing it again changes nothing). An accepted DNS name is
// the ASCII lower-casing of the input, at most 253 characters, with labels
// of 1-63 lower-case LDH characters and at most a leading "*." label; an
// accepted IP address is in its netip text form, without zone or
// IPv4-mapped prefix. Seeds: testdata/fuzz/FuzzNormalize.
func FuzzNormalize(f *testing.F) {
	for _, s := range [][2]string{
		{"dns", "www.example.com"}, {"dns", "*.Example.COM"}, {"ip", "::ffff:192.0.2.1"},
		{"ip", "fe80::1%eth0"}, {"dns", "xn--bcher-kva.example"},
	} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, typ, value string) {
		in := acme.Identifier{Type: typ, Value: value}
		out, p := Normalize(in)
		if p != nil {
			if p.Status < 400 || p.Status > 499 || p.Detail == "" || p.Identifier == nil || *p.Identifier != in {
				t.Fatalf("Normalize(%q): problem %+v: want a 4xx with a detail naming the identifier", in, p)
			}
			return
		}
		if out.Type != typ {
			t.Fatalf("Normalize(%q) changed the type to %q", in, out.Type)
		}
		again, p := Normalize(out)
		if p != nil || again != out {
			t.Fatalf("Normalize is not idempotent: %q -> %q -> %q, %v", in, out, again, p)
		}
		switch typ {
		case acme.IdentifierDNS:
			checkCanonicalDNS(t, value, out.Value)
		case acme.IdentifierIP:
			a, err := netip.ParseAddr(out.Value)
			if err != nil || a.Zone() != "" || a.Is4In6() || a.String() != out.Value {
				t.Fatalf("Normalize(%q) = %q: not a canonical IP address", in, out.Value)
			}
		default:
			t.Fatalf("Normalize(%q) accepted an unknown type", in)
		}
	})
}

func checkCanonicalDNS(t *testing.T, in, name string) {
	t.Helper()
	if !isASCIILowerOf(name, in) {
		t.Fatalf("Normalize(%q) = %q: want the ASCII lower-casing of the input", in, name)
	}
	if len(name) > 253 {
		t.Fatalf("Normalize(%q) = %q: %d characters, more than 253", in, name, len(name))
	}
	if _, err := netip.ParseAddr(name); err == nil {
		t.Fatalf("Normalize(%q) accepted an IP address as a DNS name", in)
	}
	for i, label := range strings.Split(name, ".") {
		if i == 0 && label == "*" {
			continue
		}
		if len(label) < 1 || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			t.Fatalf("Normalize(%q) = %q: bad label %q", in, name, label)
		}
		for _, c := range []byte(label) {
			if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
				t.Fatalf("Normalize(%q) = %q: label %q is not lower-case LDH", in, name, label)
			}
		}
	}
}

// isASCIILowerOf reports whether name is in with its ASCII upper-case
// letters, and only those, lower-cased.
func isASCIILowerOf(name, in string) bool {
	if len(name) != len(in) {
		return false
	}
	for i := 0; i < len(in); i++ {
		if name[i] != in[i] && !(in[i] >= 'A' && in[i] <= 'Z' && name[i] == in[i]+32) {
			return false
		}
	}
	return true
}
