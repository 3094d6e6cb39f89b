package main

import (
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// counter counts requests to the ACME server by resource kind, and sums
// their round-trip times, once the measured window is open. Each client's
// transport is wrapped with it.
type counter struct {
	on atomic.Bool
	mu sync.Mutex
	n  map[string]*ReqStat
}

// ReqStat is the count and mean round trip of one kind of request.
type ReqStat struct {
	N      int     `json:"n"`
	MeanMs float64 `json:"mean_ms"`
	// Failed counts answers with status >= 400 and transport errors;
	// x/crypto/acme retries badNonce, 429 and 5xx answers silently, so they
	// show here, not among the issuance errors.
	Failed int `json:"failed"`
	total  time.Duration
}

func newCounter() *counter { return &counter{n: map[string]*ReqStat{}} }

// wrap returns next, counting what goes through it.
func (c *counter) wrap(next http.RoundTripper) http.RoundTripper {
	return roundTripFunc(func(req *http.Request) (*http.Response, error) {
		if !c.on.Load() {
			return next.RoundTrip(req)
		}
		t0 := time.Now()
		res, err := next.RoundTrip(req)
		d := time.Since(t0)
		k := req.Method + " " + resourceKind(req.URL.Path)
		c.mu.Lock()
		st := c.n[k]
		if st == nil {
			st = &ReqStat{}
			c.n[k] = st
		}
		st.N++
		st.total += d
		if err != nil || res.StatusCode >= 400 {
			st.Failed++
		}
		c.mu.Unlock()
		return res, err
	})
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// counts returns a copy of the counts, with means, and their total.
func (c *counter) counts() (map[string]ReqStat, int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make(map[string]ReqStat, len(c.n))
	total := 0
	for k, v := range c.n {
		st := ReqStat{N: v.N, Failed: v.Failed}
		if v.N > 0 {
			st.MeanMs = float64(v.total) / float64(time.Millisecond) / float64(v.N)
		}
		out[k] = st
		total += v.N
	}
	return out, total
}

// resourceKind names an ACME URL by its resource: the path segment after
// the profile (/acme/{profile}/{kind}/...), e.g. "new-order" or "authz".
func resourceKind(path string) string {
	segs := strings.Split(strings.Trim(path, "/"), "/")
	switch {
	case len(segs) >= 5 && segs[2] == "order" && segs[4] == "finalize":
		return "finalize"
	case len(segs) >= 3:
		return segs[2]
	}
	return path
}
