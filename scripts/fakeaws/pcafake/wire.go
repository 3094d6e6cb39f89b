package pcafake

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"strings"
	"time"

	"github.com/aws/smithy-go/encoding/cbor"
)

// protocol is one of the two wire protocols the real SDK speaks to ACM PCA.
type protocol int

const (
	// rpcV2CBOR is Smithy RPC v2 CBOR, the default of acmpca v1.57.0:
	// POST /service/ACMPrivateCA/operation/<Op>, Smithy-Protocol: rpc-v2-cbor.
	rpcV2CBOR protocol = iota
	// awsJSON11 is AWS JSON 1.1: POST /, X-Amz-Target: ACMPrivateCA.<Op>.
	awsJSON11
)

func (p protocol) String() string {
	if p == rpcV2CBOR {
		return "rpc-v2-cbor"
	}
	return "awsJson1_1"
}

const (
	serviceName = "ACMPrivateCA"
	cborPrefix  = "/service/" + serviceName + "/operation/"
	namespace   = "com.amazonaws.acmpca"
)

// route finds the protocol and operation of r, or says why it has none.
func route(r *http.Request) (protocol, string, error) {
	if r.Method != http.MethodPost {
		return 0, "", fmt.Errorf("method %s, want POST", r.Method)
	}
	if op, ok := strings.CutPrefix(r.URL.Path, cborPrefix); ok {
		if r.Header.Get("Smithy-Protocol") != "rpc-v2-cbor" {
			return 0, "", fmt.Errorf("Smithy-Protocol header must be rpc-v2-cbor")
		}
		if ct := r.Header.Get("Content-Type"); ct != "" && ct != "application/cbor" {
			return 0, "", fmt.Errorf("Content-Type %q, want application/cbor", ct)
		}
		return rpcV2CBOR, op, nil
	}
	if r.URL.Path == "/" {
		op, ok := strings.CutPrefix(r.Header.Get("X-Amz-Target"), serviceName+".")
		if !ok {
			return 0, "", fmt.Errorf("X-Amz-Target must be %s.<Operation>", serviceName)
		}
		if ct := r.Header.Get("Content-Type"); ct != "application/x-amz-json-1.1" {
			return 0, "", fmt.Errorf("Content-Type %q, want application/x-amz-json-1.1", ct)
		}
		return awsJSON11, op, nil
	}
	return 0, "", fmt.Errorf("no operation at %s", r.URL.Path)
}

// input is a decoded request structure: string, []byte (CBOR blobs),
// int64, float64, bool, time.Time, map[string]any and []any values.
type input map[string]any

// decode reads a request body of protocol p.
func decode(p protocol, body []byte) (input, error) {
	if len(body) == 0 {
		return input{}, nil
	}
	if p == awsJSON11 {
		d := json.NewDecoder(bytes.NewReader(body))
		d.UseNumber()
		var m map[string]any
		if err := d.Decode(&m); err != nil {
			return nil, fmt.Errorf("json: %w", err)
		}
		return input(fromJSON(m).(map[string]any)), nil
	}
	v, err := cbor.Decode(body)
	if err != nil {
		return nil, fmt.Errorf("cbor: %w", err)
	}
	m, ok := fromCBOR(v).(map[string]any)
	if !ok {
		return nil, fmt.Errorf("cbor: body is not a map")
	}
	return input(m), nil
}

func fromJSON(v any) any {
	switch v := v.(type) {
	case json.Number:
		if n, err := v.Int64(); err == nil {
			return n
		}
		f, _ := v.Float64()
		return f
	case map[string]any:
		for k, e := range v {
			v[k] = fromJSON(e)
		}
		return v
	case []any:
		for i, e := range v {
			v[i] = fromJSON(e)
		}
		return v
	}
	return v
}

func fromCBOR(v cbor.Value) any {
	switch v := v.(type) {
	case cbor.String:
		return string(v)
	case cbor.Slice:
		return []byte(v)
	case cbor.Uint:
		return int64(v)
	case cbor.NegInt:
		return -1 - int64(v)
	case cbor.Float32:
		return float64(v)
	case cbor.Float64:
		return float64(v)
	case cbor.Bool:
		return bool(v)
	case cbor.Map:
		m := make(map[string]any, len(v))
		for k, e := range v {
			m[k] = fromCBOR(e)
		}
		return m
	case cbor.List:
		l := make([]any, len(v))
		for i, e := range v {
			l[i] = fromCBOR(e)
		}
		return l
	case *cbor.Tag:
		if v.ID == 1 { // epoch-seconds timestamp
			switch s := fromCBOR(v.Value).(type) {
			case int64:
				return time.Unix(s, 0).UTC()
			case float64:
				sec, frac := math.Modf(s)
				return time.Unix(int64(sec), int64(frac*1e9)).UTC()
			}
		}
		return fromCBOR(v.Value)
	}
	return nil
}

func (in input) str(k string) string {
	s, _ := in[k].(string)
	return s
}

func (in input) obj(k string) input {
	m, _ := in[k].(map[string]any)
	return input(m)
}

func (in input) long(k string) (int64, bool) {
	switch n := in[k].(type) {
	case int64:
		return n, true
	case float64:
		if n == math.Trunc(n) {
			return int64(n), true
		}
	}
	return 0, false
}

// blob reads a blob member: a CBOR byte string, or base64 text in JSON.
func (in input) blob(k string) ([]byte, error) {
	switch b := in[k].(type) {
	case []byte:
		return b, nil
	case string:
		return base64.StdEncoding.DecodeString(b)
	case nil:
		return nil, nil
	}
	return nil, fmt.Errorf("%s is not a blob", k)
}

// encode writes an output structure (string, []byte, int64, time.Time and
// map[string]any values) in protocol p.
func encode(p protocol, out map[string]any) []byte {
	if p == awsJSON11 {
		b, err := json.Marshal(toJSON(out))
		if err != nil {
			panic(fmt.Sprintf("pcafake: json.Marshal of a response: %v", err))
		}
		return b
	}
	return cbor.Encode(toCBOR(out))
}

func toJSON(v any) any {
	switch v := v.(type) {
	case time.Time: // awsJson timestamps are epoch seconds
		return float64(v.UnixMilli()) / 1e3
	case map[string]any:
		m := make(map[string]any, len(v))
		for k, e := range v {
			m[k] = toJSON(e)
		}
		return m
	}
	return v // string, int64; []byte becomes base64 as JSON blobs are
}

func toCBOR(v any) cbor.Value {
	switch v := v.(type) {
	case string:
		return cbor.String(v)
	case []byte:
		return cbor.Slice(v)
	case int64:
		if v < 0 {
			return cbor.NegInt(-1 - v)
		}
		return cbor.Uint(v)
	case time.Time:
		return &cbor.Tag{ID: 1, Value: cbor.Float64(float64(v.UnixMilli()) / 1e3)}
	case map[string]any:
		m := make(cbor.Map, len(v))
		for k, e := range v {
			m[k] = toCBOR(e)
		}
		return m
	}
	panic(fmt.Sprintf("pcafake: cannot encode %T", v))
}

// writeOutput answers 200 with out.
func writeOutput(w http.ResponseWriter, p protocol, out map[string]any) {
	setContentType(w, p)
	w.WriteHeader(http.StatusOK)
	w.Write(encode(p, out))
}

// writeError answers an error shape as the real service does: HTTP status
// (400 for client faults), {__type, message}. CBOR carries the absolute
// shape ID, JSON 1.1 the bare name.
func writeError(w http.ResponseWriter, p protocol, status int, code, msg string) {
	setContentType(w, p)
	typ := code
	if p == rpcV2CBOR {
		typ = namespace + "#" + code
	}
	w.Header().Set("X-Amzn-ErrorType", code)
	w.WriteHeader(status)
	w.Write(encode(p, map[string]any{"__type": typ, "message": msg}))
}

func setContentType(w http.ResponseWriter, p protocol) {
	if p == rpcV2CBOR {
		w.Header().Set("Content-Type", "application/cbor")
		w.Header().Set("Smithy-Protocol", "rpc-v2-cbor")
		return
	}
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
}
