package wfe_test

import (
	"io"
	"net/http"
	"strings"
)

// plain sends a request without a JWS and reads the answer.
func (f *fixture) plain(method, url string) *response {
	req, err := http.NewRequest(method, url, strings.NewReader(""))
	if err != nil {
		f.t.Fatal(err)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		f.t.Fatal(err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	out := &response{status: res.StatusCode, header: res.Header, body: body}
	if res.Header.Get("Content-Type") == "application/problem+json" {
		decodeProblem(f.t, out)
	}
	return out
}

// unknownCases are requests for resources that do not exist.
func unknownCases() []hostile {
	get := func(path string) func(f *fixture) *response {
		return func(f *fixture) *response { return f.a.do(f.a.base+path, nil) }
	}
	return []hostile{
		{name: "unknown/order", want: bad(404, "malformed", "not found"), send: get("/order/nope")},
		{name: "unknown/order finalize", want: bad(404, "malformed", "not found"),
			send: func(f *fixture) *response {
				return f.a.do(f.a.base+"/order/nope/finalize", csrFor(f.t, ecKey(p256), []string{"127.0.0.1"}))
			}},
		{name: "unknown/authorization", want: bad(404, "malformed", "not found"), send: get("/authz/nope")},
		{name: "unknown/challenge of an unknown authorization", want: bad(404, "malformed", "not found"),
			send: get("/chall/nope/nope")},
		{name: "unknown/challenge of A's authorization", want: bad(404, "malformed", "challenge"),
			send: func(f *fixture) *response { return f.a.do(f.a.base+"/chall/"+lastSegment(f.pendingAuthz)+"/nope", nil) }},
		{name: "unknown/certificate", want: bad(404, "malformed", "not found"), send: get("/cert/nope")},
		{name: "unknown/account", want: bad(403, "unauthorized", "another account"), send: get("/account/nope")},
		{name: "unknown/path", want: bad(404, "malformed", "not found"), send: get("/nope")},
		{name: "unknown/profile", want: bad(404, "malformed", "profile"),
			send: func(f *fixture) *response {
				url := strings.TrimSuffix(f.a.base, "/acme") + "/nope/new-order"
				return f.a.post(url, f.kidHeader(url), orderPayload)
			}},
		{name: "unknown/GET on newOrder", want: bad(405, "malformed", "GET"),
			send: func(f *fixture) *response { return f.plain(http.MethodGet, f.newOrderURL()) }},
		{name: "unknown/PUT on an account", want: bad(405, "malformed", "PUT"),
			send: func(f *fixture) *response { return f.plain(http.MethodPut, f.a.kid) }},
		{name: "unknown/POST to the directory", want: bad(405, "malformed", "POST"),
			send: func(f *fixture) *response {
				url := f.a.base + "/directory"
				return f.a.post(url, f.kidHeader(url), nil)
			}},
	}
}
