package pcafake

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func TestValidityEnd(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	cases := []struct {
		typ  string
		v    int64
		want time.Time
	}{
		{"END_DATE", 491231235959, time.Date(2049, 12, 31, 23, 59, 59, 0, time.UTC)},
		{"END_DATE", 501231235959, time.Date(1950, 12, 31, 23, 59, 59, 0, time.UTC)},
		{"END_DATE", 20301231235959, time.Date(2030, 12, 31, 23, 59, 59, 0, time.UTC)},
		{"ABSOLUTE", 2524608000, time.Date(2050, 1, 1, 0, 0, 0, 0, time.UTC)},
		{"DAYS", 90, now.AddDate(0, 0, 90)},
	}
	for _, tc := range cases {
		got, err := validityEnd(input{"Type": tc.typ, "Value": tc.v}, now)
		if err != nil || !got.Equal(tc.want) {
			t.Errorf("%s %d = %s, %v; want %s", tc.typ, tc.v, got, err, tc.want)
		}
	}
	if _, err := validityEnd(input{"Type": "WEEKS", "Value": int64(1)}, now); err == nil || err.code != "InvalidArgsException" {
		t.Errorf("WEEKS = %v, want InvalidArgsException", err)
	}
}

func TestUnsignedAndUnroutedRequests(t *testing.T) {
	s, err := New(Config{})
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name, path, target, ct, want string
		status                       int
	}{
		{"cbor without signature", "/service/ACMPrivateCA/operation/GetCertificate", "", "application/cbor", "MissingAuthenticationTokenException", 403},
		{"json without signature", "/", "ACMPrivateCA.GetCertificate", "application/x-amz-json-1.1", "MissingAuthenticationTokenException", 403},
		{"unknown path", "/nowhere", "", "", "UnknownOperationException", 404},
	}
	for _, tc := range cases {
		r := httptest.NewRequest(http.MethodPost, tc.path, strings.NewReader("{}"))
		r.Header.Set("Content-Type", tc.ct)
		if tc.target != "" {
			r.Header.Set("X-Amz-Target", tc.target)
		}
		if strings.HasPrefix(tc.path, "/service/") {
			r.Header.Set("Smithy-Protocol", "rpc-v2-cbor")
		}
		w := httptest.NewRecorder()
		s.ServeHTTP(w, r)
		if w.Code != tc.status || w.Header().Get("X-Amzn-ErrorType") != tc.want {
			t.Errorf("%s: HTTP %d %s, want %d %s", tc.name, w.Code, w.Header().Get("X-Amzn-ErrorType"), tc.status, tc.want)
		}
	}
}

func TestParseSerial(t *testing.T) {
	for _, s := range []string{"67:07:44:76", "67074476", "6707:4476"} {
		if n, ok := parseSerial(s); !ok || n.Text(16) != "67074476" {
			t.Errorf("parseSerial(%q) = %v, %v", s, n, ok)
		}
	}
	if _, ok := parseSerial("zz"); ok {
		t.Error("parseSerial accepted zz")
	}
}
