// Package config is the typed configuration of each acmera function, read
// from the environment (and an optional profiles file) and validated at
// start. Only entry points call it; every other package receives values.
// Invalid configuration fails with a message naming the variable.
package config

import (
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/acmera/acmera/pkg/policy"
)

// Getenv is the environment lookup, os.Getenv in production.
type Getenv func(string) string

// Common holds the settings shared by every mode.
type Common struct {
	// Resolvers are the DNS servers ("host:port") used for validation
	// (ACMERA_RESOLVERS, comma-separated); empty means the system's.
	Resolvers []string
	// HTTP01Port is the port http-01 validation connects to
	// (ACMERA_HTTP01_PORT, default 80).
	HTTP01Port int
	// TLSALPN01Port is the port tls-alpn-01 validation connects to
	// (ACMERA_TLSALPN01_PORT, default 443).
	TLSALPN01Port int
	// ValidationNetworks is ACMERA_VALIDATION_NETWORKS (comma-separated
	// CIDR prefixes): the ranges validation may reach although the network
	// policy denies them (loopback, link-local and the metadata server,
	// unspecified, multicast, broadcast; see va.DeniedNetworks). It only
	// reopens denied ranges: every other address is allowed anyway.
	ValidationNetworks []netip.Prefix
	// TermsOfService and Website are ACMERA_TERMS_OF_SERVICE and
	// ACMERA_WEBSITE, the directory's meta URLs; empty leaves them out.
	TermsOfService, Website string
	// BaseURL is the external URL clients use (ACMERA_BASE_URL); empty
	// derives it from each request.
	BaseURL string
	// Policy holds the profiles: from ACMERA_PROFILES (a JSON file) or
	// ACMERA_PROFILES_JSON, else the allow-any development policy where
	// that is allowed.
	Policy *policy.Policy
	// Backends are the CA backends of the profiles' "backends" object
	// (sorted by name); DefaultBackend is the deployment's own CA, the
	// backend of profiles that name none: BackendLocal or BackendCAS.
	Backends       []Backend
	DefaultBackend string
	// LogLevel is ACMERA_LOG_LEVEL: debug, info (default), warn, error.
	LogLevel string
	// FinalizeRetryDelay is ACMERA_FINALIZE_RETRY_DELAY, a Go duration:
	// when the finalize task queued before every CA call runs (default
	// 75s, after the first call's own 60 s bound; at least 1s).
	FinalizeRetryDelay time.Duration
	// ReconcileInterval is ACMERA_RECONCILE_INTERVAL, a Go duration: how
	// often the reconciler (ra.Reconciler) looks for orders and challenges
	// left processing whose task was lost, in the embedded default and the
	// Validate function (default 1m, at least 1s; "off" disables it, 0).
	ReconcileInterval time.Duration
	// NewAccountsPerHour is ACMERA_NEW_ACCOUNT_RATE: how many accounts one
	// client address may create per hour, counted in the store across all
	// instances (default 300;
	// "0" means no limit, stored as -1 as ra.Config takes it).
	NewAccountsPerHour int
	// TrustedProxies is ACMERA_TRUSTED_PROXIES: comma-separated addresses
	// or CIDR prefixes of the proxies whose X-Forwarded-For entries name
	// the client (wfe.Config.TrustedProxies), or "none". Default: none in
	// the embedded default (the client is the TCP peer), Cloud Run's front
	// end in the cloud (see ReadCloud).
	TrustedProxies []netip.Prefix
}

// DefaultNewAccountsPerHour is ACMERA_NEW_ACCOUNT_RATE's default.
const DefaultNewAccountsPerHour = 300

// Embedded is the configuration of the all-in-one embedded default.
type Embedded struct {
	Common
	// DataDir holds the bbolt file and the local CA (ACMERA_DATA_DIR,
	// default ./acmera-data).
	DataDir string
	// Addr is the HTTPS listen address (ACMERA_ADDR, default
	// 127.0.0.1:8443).
	Addr string
	// Hostnames are extra names for the HTTPS certificate
	// (ACMERA_HOSTNAMES, comma-separated).
	Hostnames []string
	// MetricsAddr is ACMERA_METRICS_ADDR, host:port: where the Prometheus
	// text exposition is served at /metrics, over plain HTTP and without
	// authentication (so keep it on loopback or a private network); empty,
	// the default, serves no metrics.
	MetricsAddr string
	// AdminAddr is ACMERA_ADMIN_ADDR, host:port on loopback: where the
	// read-only admin page is served over plain HTTP, without
	// authentication (anyone who can connect sees it, hence loopback
	// only: a non-loopback host is refused); empty, the default, serves it
	// on the admin socket only.
	AdminAddr string
	// Pprof serves net/http/pprof under /debug/pprof/ on the admin
	// socket (ACMERA_PPROF=true; default false). The socket is mode
	// 0600 in a 0700 directory: only the server's user reaches it.
	Pprof bool
}

func list(v string) []string {
	var out []string
	for _, s := range strings.Split(v, ",") {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}

func port(env Getenv, name string, def int) (int, error) {
	v := env(name)
	if v == "" {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 || n > 65535 {
		return 0, fmt.Errorf("%s=%q: must be a port number 1-65535", name, v)
	}
	return n, nil
}

// prefixes parses a comma-separated list of CIDR prefixes, refusing host
// bits (a likely typo in a security setting) and IPv4-mapped forms.
func prefixes(name, v string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, s := range list(v) {
		p, err := netip.ParsePrefix(s)
		switch {
		case err != nil:
			return nil, fmt.Errorf("%s: %q is not a CIDR prefix such as 10.0.0.0/8 or fd00::/8", name, s)
		case p.Addr().Is4In6():
			return nil, fmt.Errorf("%s: %q is IPv4-mapped: write the IPv4 range (e.g. 127.0.0.0/8)", name, s)
		case p != p.Masked():
			return nil, fmt.Errorf("%s: %q has host bits set: did you mean %s?", name, s, p.Masked())
		}
		out = append(out, p)
	}
	return out, nil
}

// readCommon reads the shared settings. allowAnyDefault says whether, with
// no profiles configured, the allow-any development policy applies.
func readCommon(env Getenv, allowAnyDefault bool) (Common, error) {
	var c Common
	var err error
	c.Resolvers = list(env("ACMERA_RESOLVERS"))
	for _, r := range c.Resolvers {
		if _, p, err := net.SplitHostPort(r); err != nil || p == "" {
			return c, fmt.Errorf("ACMERA_RESOLVERS: %q is not host:port", r)
		}
	}
	if c.HTTP01Port, err = port(env, "ACMERA_HTTP01_PORT", 80); err != nil {
		return c, err
	}
	if c.TLSALPN01Port, err = port(env, "ACMERA_TLSALPN01_PORT", 443); err != nil {
		return c, err
	}
	if c.ValidationNetworks, err = prefixes("ACMERA_VALIDATION_NETWORKS", env("ACMERA_VALIDATION_NETWORKS")); err != nil {
		return c, err
	}
	for _, u := range []struct {
		name string
		dst  *string
	}{{"ACMERA_TERMS_OF_SERVICE", &c.TermsOfService}, {"ACMERA_WEBSITE", &c.Website}} {
		v := env(u.name)
		if v == "" {
			continue
		}
		if p, err := url.Parse(v); err != nil || (p.Scheme != "https" && p.Scheme != "http") || p.Host == "" {
			return c, fmt.Errorf("%s=%q: must be an absolute http(s) URL", u.name, v)
		}
		*u.dst = v
	}
	c.BaseURL = strings.TrimSuffix(env("ACMERA_BASE_URL"), "/")
	if c.BaseURL != "" && !strings.HasPrefix(c.BaseURL, "https://") && !strings.HasPrefix(c.BaseURL, "http://") {
		return c, fmt.Errorf("ACMERA_BASE_URL=%q: must start with https:// or http://", c.BaseURL)
	}
	c.LogLevel = env("ACMERA_LOG_LEVEL")
	switch c.LogLevel {
	case "", "debug", "info", "warn", "error":
	default:
		return c, fmt.Errorf("ACMERA_LOG_LEVEL=%q: must be debug, info, warn or error", c.LogLevel)
	}
	if v := env("ACMERA_FINALIZE_RETRY_DELAY"); v != "" {
		if c.FinalizeRetryDelay, err = time.ParseDuration(v); err != nil || c.FinalizeRetryDelay < time.Second {
			return c, fmt.Errorf("ACMERA_FINALIZE_RETRY_DELAY=%q: must be a duration of at least 1s, like \"75s\"", v)
		}
	}
	if c.ReconcileInterval, err = reconcileInterval(env("ACMERA_RECONCILE_INTERVAL")); err != nil {
		return c, err
	}
	if c.NewAccountsPerHour, err = newAccountRate(env("ACMERA_NEW_ACCOUNT_RATE")); err != nil {
		return c, err
	}
	if c.TrustedProxies, err = trustedProxies(env("ACMERA_TRUSTED_PROXIES")); err != nil {
		return c, err
	}
	c.Policy, err = readPolicy(env, allowAnyDefault)
	return c, err
}

func newAccountRate(v string) (int, error) {
	if v == "" {
		return DefaultNewAccountsPerHour, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("ACMERA_NEW_ACCOUNT_RATE=%q: must be a number of accounts per client address per hour (0 for no limit)", v)
	}
	if n == 0 {
		return -1, nil
	}
	return n, nil
}

// trustedProxies parses ACMERA_TRUSTED_PROXIES: nil for "" or "none".
func trustedProxies(v string) ([]netip.Prefix, error) {
	if strings.TrimSpace(v) == "none" {
		return nil, nil
	}
	var out []netip.Prefix
	for _, s := range list(v) {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			a, aerr := netip.ParseAddr(s)
			if aerr != nil || a.Zone() != "" {
				return nil, fmt.Errorf("ACMERA_TRUSTED_PROXIES: %q is not an IP address or CIDR prefix", s)
			}
			p = netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen())
		}
		out = append(out, p.Masked())
	}
	return out, nil
}

// policySource names where the profiles came from, for errors.
func policySource(env Getenv) string {
	if path := env("ACMERA_PROFILES"); path != "" {
		return "ACMERA_PROFILES=" + path
	}
	if env("ACMERA_PROFILES_JSON") != "" {
		return "ACMERA_PROFILES_JSON"
	}
	return "profiles"
}

func readPolicy(env Getenv, allowAnyDefault bool) (*policy.Policy, error) {
	if path := env("ACMERA_PROFILES"); path != "" {
		b, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("ACMERA_PROFILES: %w", err)
		}
		p, err := policy.Parse(b)
		if err != nil {
			return nil, fmt.Errorf("ACMERA_PROFILES=%s: %w", path, err)
		}
		return p, nil
	}
	if js := env("ACMERA_PROFILES_JSON"); js != "" {
		p, err := policy.Parse([]byte(js))
		if err != nil {
			return nil, fmt.Errorf("ACMERA_PROFILES_JSON: %w", err)
		}
		return p, nil
	}
	switch v := env("ACMERA_PROFILES_ALLOW_ANY"); v {
	case "true":
		return policy.AllowAny(), nil
	case "", "false":
	default:
		return nil, fmt.Errorf("ACMERA_PROFILES_ALLOW_ANY=%q: must be true or false", v)
	}
	if allowAnyDefault {
		return policy.AllowAny(), nil
	}
	return nil, fmt.Errorf("no issuance policy: set ACMERA_PROFILES or ACMERA_PROFILES_JSON (or ACMERA_PROFILES_ALLOW_ANY=true for development)")
}

// ReadEmbedded reads the embedded default's configuration.
func ReadEmbedded(env Getenv) (*Embedded, error) {
	c, err := readCommon(env, true)
	if err != nil {
		return nil, err
	}
	if err := c.resolveBackends(policySource(env), BackendLocal); err != nil {
		return nil, err
	}
	e := &Embedded{Common: c, DataDir: env("ACMERA_DATA_DIR"), Addr: env("ACMERA_ADDR"), Hostnames: list(env("ACMERA_HOSTNAMES"))}
	if e.DataDir == "" {
		e.DataDir = "./acmera-data"
	}
	switch v := env("ACMERA_PPROF"); v {
	case "true":
		e.Pprof = true
	case "", "false":
	default:
		return nil, fmt.Errorf("ACMERA_PPROF=%q: must be true or false", v)
	}
	if e.Addr == "" {
		e.Addr = "127.0.0.1:8443"
	}
	if _, p, err := net.SplitHostPort(e.Addr); err != nil || p == "" {
		return nil, fmt.Errorf("ACMERA_ADDR=%q: must be host:port", e.Addr)
	}
	if e.MetricsAddr = env("ACMERA_METRICS_ADDR"); e.MetricsAddr != "" {
		if _, p, err := net.SplitHostPort(e.MetricsAddr); err != nil || p == "" {
			return nil, fmt.Errorf("ACMERA_METRICS_ADDR=%q: must be host:port, like 127.0.0.1:9464", e.MetricsAddr)
		}
	}
	if e.AdminAddr = env("ACMERA_ADMIN_ADDR"); e.AdminAddr != "" {
		if err := checkLoopback(e.AdminAddr); err != nil {
			return nil, fmt.Errorf("ACMERA_ADMIN_ADDR=%q: %w (the admin page has no authentication)", e.AdminAddr, err)
		}
	}
	for _, h := range e.Hostnames {
		if strings.ContainsAny(h, " /:") && net.ParseIP(h) == nil {
			return nil, fmt.Errorf("ACMERA_HOSTNAMES: %q is not a host name or IP address", h)
		}
	}
	return e, nil
}

// checkLoopback reports an address that is not host:port on a loopback
// address or localhost.
func checkLoopback(addr string) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil || port == "" {
		return errors.New("must be host:port, like 127.0.0.1:9443")
	}
	if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return errors.New("must be on loopback (127.0.0.1, ::1 or localhost)")
	}
	return nil
}

// decodeKey reads a base64 32-byte key.
func decodeKey(name, v string) ([]byte, error) {
	k, err := base64.StdEncoding.DecodeString(v)
	if err != nil {
		k, err = base64.RawURLEncoding.DecodeString(v)
	}
	if err != nil || len(k) != 32 {
		return nil, fmt.Errorf("%s: must be 32 bytes, base64-encoded", name)
	}
	return k, nil
}

// DefaultReconcileInterval is ACMERA_RECONCILE_INTERVAL's default.
const DefaultReconcileInterval = time.Minute

// reconcileInterval parses ACMERA_RECONCILE_INTERVAL: empty is the
// default, "off" is 0 (no reconciler), else a duration of at least 1s.
func reconcileInterval(v string) (time.Duration, error) {
	switch v {
	case "":
		return DefaultReconcileInterval, nil
	case "off":
		return 0, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil || d < time.Second {
		return 0, fmt.Errorf("ACMERA_RECONCILE_INTERVAL=%q: must be \"off\" or a duration of at least 1s, like \"1m\"", v)
	}
	return d, nil
}
