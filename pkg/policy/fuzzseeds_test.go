package policy

import (
	"os"
	"strings"
	"testing"

	"github.com/acmera/acmera/pkg/internal/fuzzcorpus"
)

// TestWriteFuzzSeeds regenerates testdata/fuzz/FuzzNormalize when
// ACMERA_WRITE_FUZZ_SEEDS=1.
func TestWriteFuzzSeeds(t *testing.T) {
	if os.Getenv("ACMERA_WRITE_FUZZ_SEEDS") != "1" {
		t.Skip("set ACMERA_WRITE_FUZZ_SEEDS=1 to regenerate the seed corpus")
	}
	label63 := strings.Repeat("a", 63)
	name253 := label63 + "." + label63 + "." + label63 + "." + strings.Repeat("b", 61) // 253
	seeds := []struct{ name, typ, value string }{
		{"dns-mixed-case", "dns", "WWW.Example.COM"},
		{"dns-wildcard", "dns", "*.example.com"},
		{"dns-wildcard-253", "dns", "*." + name253[2:]},
		{"dns-wildcard-over-253", "dns", "*." + name253},
		{"dns-253", "dns", name253},
		{"dns-254", "dns", name253 + "c"},
		{"dns-label-64", "dns", strings.Repeat("a", 64) + ".example"},
		{"dns-inner-wildcard", "dns", "a.*.example.com"},
		{"dns-double-wildcard", "dns", "*.*.example.com"},
		{"dns-trailing-dot", "dns", "example.com."},
		{"dns-hyphen", "dns", "-x.example"},
		{"dns-underscore", "dns", "_acme-challenge.example"},
		{"dns-punycode", "dns", "xn--bcher-kva.example"},
		{"dns-unicode", "dns", "bücher.example"},
		{"dns-kelvin-sign", "dns", "\u212a.example"},
		{"dns-dotted-i", "dns", "\u0130.example"},
		{"dns-ipv4", "dns", "192.0.2.1"},
		{"dns-wildcard-ipv4", "dns", "*.192.0.2.1"},
		{"dns-numeric", "dns", "1.2.3"},
		{"dns-nul", "dns", "a\x00.example"},
		{"dns-empty", "dns", ""},
		{"ip-v6-upper", "ip", "2001:DB8::1"},
		{"ip-v4-mapped", "ip", "::ffff:192.0.2.1"},
		{"ip-zone", "ip", "fe80::1%eth0"},
		{"ip-leading-zero", "ip", "192.0.2.01"},
		{"ip-name", "ip", "example.com"},
		{"email", "email", "a@example.com"},
		{"type-case", "DNS", "example.com"},
	}
	for _, s := range seeds {
		if err := fuzzcorpus.Write("FuzzNormalize", s.name, s.typ, s.value); err != nil {
			t.Fatal(err)
		}
	}
}
