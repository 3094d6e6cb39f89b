package wfe

import (
	"encoding/json"
	"errors"
	"net/http"
	"reflect"
	"strings"
	"testing"

	"github.com/acmera/acmera/pkg/acme"
	"github.com/acmera/acmera/pkg/problem"
)

// payloadKinds are the request payloads decode reads, by fuzz selector.
var payloadKinds = []struct {
	what string
	new  func() any
}{
	{"newAccount", func() any { return new(acme.NewAccountRequest) }},
	{"account update", func() any { return new(acme.AccountUpdateRequest) }},
	{"newOrder", func() any { return new(acme.NewOrderRequest) }},
	{"finalize", func() any { return new(acme.FinalizeRequest) }},
	{"authorization update", func() any { return new(acme.AuthorizationUpdateRequest) }},
	{"challenge", func() any { return new(map[string]any) }},
	{"keyChange", func() any { return new(acme.KeyChangeInner) }},
	{"revokeCert", func() any { return new(acme.RevocationRequest) }},
}

// FuzzDecodePayload checks decode, the reader of every JSON request
// payload: it never panics; a refusal is a 400 malformed problem with a
// detail; a payload that repeats a member name in any object (as
// encoding/json matches names, ignoring case) is refused; an accepted
// payload decodes as plain json.Unmarshal does. kind selects the payload
// type (payloadKinds). Seeds: testdata/fuzz/FuzzDecodePayload.
func FuzzDecodePayload(f *testing.F) {
	f.Add(uint8(0), []byte(`{"contact":["mailto:a@example.com"],"termsOfServiceAgreed":true}`))
	f.Add(uint8(0), []byte(`{"onlyReturnExisting":false,"OnlyReturnExisting":true}`))
	f.Add(uint8(2), []byte(`{"identifiers":[{"type":"dns","value":"a.example","type":"ip"}]}`))
	f.Add(uint8(3), []byte(`{"csr":"MIIB","\u0063sr":"MIIC"}`))
	f.Add(uint8(5), []byte(`{}`))
	f.Fuzz(func(t *testing.T, kind uint8, payload []byte) {
		k := payloadKinds[int(kind)%len(payloadKinds)]
		v := k.new()
		err := decode(payload, v, k.what)
		if err != nil {
			var p *problem.Problem
			if !errors.As(err, &p) || p.Type != problem.Malformed || p.Status != http.StatusBadRequest || p.Detail == "" {
				t.Fatalf("decode(%q) = %v: want a 400 malformed problem with a detail", payload, err)
			}
			return
		}
		if dup, known := repeatsName(payload); known && dup {
			t.Fatalf("decode accepted %q, which repeats a member name", payload)
		}
		plain := k.new()
		if err := json.Unmarshal(payload, plain); err != nil || !reflect.DeepEqual(v, plain) {
			t.Fatalf("decode(%q) = %#v, json.Unmarshal = %#v, %v", payload, v, plain, err)
		}
	})
}

// repeatsName is the test's own duplicate finder, built on members (the
// JWS reader) and encoding/json rather than on uniqueMembers' token walk.
// known is false when it cannot tell (an object with more members than
// members allows).
func repeatsName(data []byte) (dup, known bool) {
	var obj map[string]json.RawMessage
	if json.Unmarshal(data, &obj) == nil && obj != nil {
		seen := map[string]bool{}
		var vals [][]byte
		err := members(data, func(name string, val []byte) error {
			k := strings.ToUpper(strings.ToLower(name))
			if seen[k] {
				dup = true
			}
			seen[k] = true
			vals = append(vals, val)
			return nil
		})
		if errors.Is(err, errDuplicate) {
			return true, true
		}
		if err != nil {
			return false, false
		}
		known = true
		for _, v := range vals {
			d, k := repeatsName(v)
			dup, known = dup || d, known && k
		}
		return dup, known
	}
	var arr []json.RawMessage
	if json.Unmarshal(data, &arr) == nil {
		known = true
		for _, v := range arr {
			d, k := repeatsName(v)
			dup, known = dup || d, known && k
		}
		return dup, known
	}
	return false, true // a scalar
}
