package idtoken

import (
	"net/http"
	"net/http/httptest"
	"testing"
)

// The metadata server is asked for a "full" token for the audience, with
// Metadata-Flavor: Google; an audience is required.
func TestMetadataToken(t *testing.T) {
	var got *http.Request
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = r
		if r.Header.Get("Metadata-Flavor") != "Google" {
			http.Error(w, "missing Metadata-Flavor", http.StatusForbidden)
			return
		}
		w.Write([]byte("aaa.bbb.ccc\n"))
	}))
	t.Cleanup(srv.Close)
	tok, err := Source{Audience: "sts.amazonaws.com", MetadataURL: srv.URL}.Token(t.Context())
	if err != nil || tok != "aaa.bbb.ccc" {
		t.Fatalf("Token = %q, %v", tok, err)
	}
	if got.URL.Path != "/computeMetadata/v1/instance/service-accounts/default/identity" ||
		got.URL.Query().Get("audience") != "sts.amazonaws.com" || got.URL.Query().Get("format") != "full" {
		t.Errorf("request %s", got.URL)
	}
	if _, err := (Source{MetadataURL: srv.URL}).Token(t.Context()); err == nil {
		t.Error("Token without an audience succeeded")
	}
}
