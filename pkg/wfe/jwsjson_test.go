package wfe

import (
	"errors"
	"strings"
	"testing"
)

func TestMembers(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want string // name=value pairs joined by ';'
		err  error
	}{
		{"flat", `{"a":"x","b":1}`, `a="x";b=1`, nil},
		{"empty", ` { } `, ``, nil},
		{"nested values", `{"jwk":{"k":[1,{"z":"}"}]},"n":null , "t" : true}`, `jwk={"k":[1,{"z":"}"}]};n=null;t=true`, nil},
		{"escapes", `{"a\"b":"c\\\"d","u":"\u0041"}`, `a"b="c\\\"d";u="\u0041"`, nil},
		{"repeated", `{"a":1,"a":2}`, ``, errDuplicate},
		{"repeated through an escape", `{"a":1,"\u0061":2}`, ``, errDuplicate},
		{"names are case-sensitive", `{"a":1,"A":2}`, `a=1;A=2`, nil},
		{"array", `[1,2]`, ``, errNotObject},
		{"invalid", `{"a":}`, ``, errNotObject},
		{"trailing data", `{"a":1} {}`, ``, errNotObject},
		{"too many", `{` + manyMembers(maxMembers+1) + `}`, ``, errMembers},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var got []string
			err := members([]byte(tc.in), func(name string, val []byte) error {
				got = append(got, name+"="+string(val))
				return nil
			})
			if !errors.Is(err, tc.err) {
				t.Fatalf("error %v, want %v", err, tc.err)
			}
			if tc.err == nil && strings.Join(got, ";") != tc.want {
				t.Fatalf("members %q, want %q", strings.Join(got, ";"), tc.want)
			}
		})
	}
}

func manyMembers(n int) string {
	var b strings.Builder
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(`"m` + strings.Repeat("x", i) + `":0`)
	}
	return b.String()
}

func TestUniqueMembers(t *testing.T) {
	tests := []struct {
		in   string
		want bool
	}{
		{`{"identifiers":[{"type":"dns","value":"a.example"},{"type":"dns","value":"b.example"}]}`, true},
		{`{"a":{"a":1},"b":[{"a":1},{"a":2}]}`, true},
		{`["a","a",{"a":"a"}]`, true},
		{`{"a":"b","b":"a"}`, true},
		{`{}`, true},
		{`null`, true},
		{`{"csr":"x","csr":"y"}`, false},
		{`{"csr":"x","CSR":"y"}`, false},
		{`{"csr":"x","\u0063sr":"y"}`, false},
		{`{"k":"x","\u212a":"y"}`, false}, // KELVIN SIGN folds to K, as encoding/json matches it
		{`{"identifiers":[{"type":"dns","type":"ip","value":"a"}]}`, false},
		{`{"a":[[{"x":1,"y":{"z":1,"z":2}}]]}`, false},
		{`{"a":1`, false},
	}
	for _, tc := range tests {
		if got := uniqueMembers([]byte(tc.in)); got != tc.want {
			t.Errorf("uniqueMembers(%s) = %v, want %v", tc.in, got, tc.want)
		}
	}
}
