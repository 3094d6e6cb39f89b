package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"text/tabwriter"
	"time"
)

// acmera version and --version print one line naming the release, Go and
// the platform; help lists the command.
func TestVersion(t *testing.T) {
	for _, arg := range []string{"version", "--version"} {
		var out bytes.Buffer
		if err := run(context.Background(), []string{arg}, func(string) string { return "" }, &out, &out); err != nil {
			t.Fatalf("acmera %s: %v", arg, err)
		}
		if s := out.String(); !strings.HasPrefix(s, "acmera ") || !strings.Contains(s, "go1.") || strings.Count(s, "\n") != 1 {
			t.Errorf("acmera %s printed %q", arg, s)
		}
	}
	if !strings.Contains(usage, "version") {
		t.Error("acmera help does not list version")
	}
}

// On a terminal eab list prints an aligned table with no secret.
func TestEABTable(t *testing.T) {
	exp := time.Date(2027, 1, 2, 3, 4, 0, 0, time.UTC)
	var out bytes.Buffer
	err := eabTable(tabwriter.NewWriter(&out, 0, 4, 2, ' ', 0), []eabListing{
		{KID: "kid-one", Profile: "teams", Allow: []string{"*.team-a.test"}, Uses: 1, Expires: &exp},
		{KID: "kid-two", Profile: "acme", Reusable: true},
	})
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 3 || !strings.HasPrefix(lines[0], "KID") || !strings.Contains(lines[1], "*.team-a.test") ||
		!strings.Contains(lines[1], "2027-01-02 03:04") || !strings.Contains(lines[2], "(profile)") {
		t.Errorf("table:\n%s", out.String())
	}
	if strings.Index(lines[1], "teams") != strings.Index(lines[0], "PROFILE") {
		t.Errorf("columns are not aligned:\n%s", out.String())
	}
}
