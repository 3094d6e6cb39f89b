package policy

import (
	"slices"
	"testing"
)

func TestCAAIdentities(t *testing.T) {
	pol, err := Parse([]byte(`{"profiles":{"acme":{"allowAnyName":true},
		"caa":{"allowAnyName":true,"caaIdentities":["CA.Corp.Example.","ca.corp.example","acme.corp.example"]}}}`))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := pol.Profile("caa").CAAIdentities, []string{"ca.corp.example", "acme.corp.example"}; !slices.Equal(got, want) {
		t.Errorf("caaIdentities = %q, want %q", got, want)
	}
	if !pol.Profile("caa").ChecksCAA() || pol.Profile("acme").ChecksCAA() {
		t.Error("ChecksCAA: want only the profile with caaIdentities")
	}
	for _, bad := range []string{`""`, `"ca corp"`, `"*.corp.example"`, `"ca_x.example"`, `"bücher.example"`} {
		if _, err := Parse([]byte(`{"profiles":{"acme":{"allowAnyName":true,"caaIdentities":[` + bad + `]}}}`)); err == nil {
			t.Errorf("caaIdentities [%s] accepted", bad)
		}
	}
}
