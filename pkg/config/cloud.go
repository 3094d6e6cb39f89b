package config

import (
	"fmt"
	"net/netip"
	"regexp"
	"strings"
	"time"
)

// Cloud is the configuration of the ACME and Validate functions on Google
// Cloud (Cloud Run, Firestore, Cloud Tasks, CAS).
type Cloud struct {
	Common
	// Port is the HTTP port ($PORT, default 8080).
	Port string
	// ProjectID is GOOGLE_CLOUD_PROJECT (required).
	ProjectID string
	// FirestoreDatabase is ACMERA_FIRESTORE_DATABASE (default "(default)").
	// FIRESTORE_EMULATOR_HOST, when set, is honoured by the client library.
	FirestoreDatabase string
	// CASPool is ACMERA_CAS_POOL, projects/P/locations/L/caPools/X (required).
	CASPool string
	// CASEndpoint is ACMERA_CAS_ENDPOINT, an override for tests and fakes.
	CASEndpoint string
	// TasksQueue is ACMERA_TASKS_QUEUE, projects/P/locations/L/queues/Q
	// (required).
	TasksQueue string
	// TasksEndpoint is ACMERA_TASKS_ENDPOINT, an override.
	TasksEndpoint string
	// TasksServiceAccount is ACMERA_TASKS_SERVICE_ACCOUNT: the email Cloud
	// Tasks signs OIDC tokens as, and the only caller the validator accepts
	// (required).
	TasksServiceAccount string
	// ValidatorURL is ACMERA_VALIDATOR_URL, where tasks are sent (required).
	ValidatorURL string
	// OIDCAudience is ACMERA_OIDC_AUDIENCE, the token audience the
	// validator expects (default ValidatorURL).
	OIDCAudience string
	// AdminAllow is ACMERA_ADMIN_ALLOW: the service-account emails (comma-
	// separated) whose Google ID tokens, audience AdminAudience, may read
	// the ACME function's /admin page. AdminAudience is
	// ACMERA_ADMIN_AUDIENCE, default ACMERA_BASE_URL.
	AdminAllow    []string
	AdminAudience string
	// AdminIAPAudience is ACMERA_ADMIN_IAP_AUDIENCE: when set, /admin also
	// admits a request carrying a Cloud IAP assertion
	// (x-goog-iap-jwt-assertion) for this audience
	// (/projects/NUMBER/global/backendServices/ID).
	AdminIAPAudience string
	// OIDCJWKSURL is ACMERA_OIDC_JWKS_URL, a JWKS override for the fakes;
	// empty verifies Google-signed tokens.
	OIDCJWKSURL string
	// NonceKey is ACMERA_NONCE_KEY, 32 bytes base64, shared by every ACME
	// instance. Required for FUNCTION_TARGET=ACME unless
	// ACMERA_PROFILES_ALLOW_ANY=true, when a random per-instance key is used
	// (nonces then fail over across instances, which clients retry). The
	// validator serves no nonces and needs none.
	NonceKey []byte
	// OpsLogInterval is ACMERA_FIRESTORE_OPS_LOG_INTERVAL, a Go duration:
	// when set, the instance counts its Firestore document reads, writes
	// and RPCs (firestore.OpCounter) and logs the running totals that
	// often, event "firestore.ops", to attribute Firestore cost to load;
	// empty, the default, counts nothing.
	OpsLogInterval time.Duration
	// Metrics is ACMERA_METRICS: where the functions export their metrics,
	// MetricsCloudMonitoring (the default: Cloud Monitoring in the
	// project, as custom metrics workload.googleapis.com/acmera.*) or
	// MetricsOff.
	Metrics string
}

// ACMERA_METRICS values.
const (
	MetricsCloudMonitoring = "cloudmonitoring"
	MetricsOff             = "off"
)

// cloudRunFrontEnd is ACMERA_TRUSTED_PROXIES's default in the cloud: Cloud
// Run's front end connects to the container from a link-local address and
// appends the address it received the request from to X-Forwarded-For.
// Behind a load balancer that appends addresses of its own too (the
// module's internal Application Load Balancer), add its forwarding rule
// and proxy-only subnet.
func cloudRunFrontEnd() []netip.Prefix {
	return []netip.Prefix{netip.MustParsePrefix("169.254.0.0/16"), netip.MustParsePrefix("fe80::/10")}
}

var (
	poolName  = regexp.MustCompile(`^projects/[^/]+/locations/[^/]+/caPools/[^/]+$`)
	queueName = regexp.MustCompile(`^projects/[^/]+/locations/[^/]+/queues/[^/]+$`)
)

// ReadCloud reads the cloud functions' configuration.
func ReadCloud(env Getenv) (*Cloud, error) {
	c, err := readCommon(env, false)
	if err != nil {
		return nil, err
	}
	if err := c.resolveBackends(policySource(env), BackendCAS); err != nil {
		return nil, err
	}
	cl := &Cloud{Common: c, Port: env("PORT"), ProjectID: env("GOOGLE_CLOUD_PROJECT"),
		FirestoreDatabase: env("ACMERA_FIRESTORE_DATABASE"), CASPool: env("ACMERA_CAS_POOL"),
		CASEndpoint: env("ACMERA_CAS_ENDPOINT"), TasksQueue: env("ACMERA_TASKS_QUEUE"),
		TasksEndpoint: env("ACMERA_TASKS_ENDPOINT"), TasksServiceAccount: env("ACMERA_TASKS_SERVICE_ACCOUNT"),
		ValidatorURL: env("ACMERA_VALIDATOR_URL"), OIDCAudience: env("ACMERA_OIDC_AUDIENCE"),
		OIDCJWKSURL: env("ACMERA_OIDC_JWKS_URL")}
	if cl.Port == "" {
		cl.Port = "8080"
	}
	if v := env("ACMERA_FIRESTORE_OPS_LOG_INTERVAL"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d < 100*time.Millisecond {
			return nil, fmt.Errorf("ACMERA_FIRESTORE_OPS_LOG_INTERVAL=%q: must be a duration of at least 100ms, like \"10s\"", v)
		}
		cl.OpsLogInterval = d
	}
	switch cl.Metrics = env("ACMERA_METRICS"); cl.Metrics {
	case "":
		cl.Metrics = MetricsCloudMonitoring
	case MetricsCloudMonitoring, MetricsOff:
	default:
		return nil, fmt.Errorf("ACMERA_METRICS=%q: must be %s or %s", cl.Metrics, MetricsCloudMonitoring, MetricsOff)
	}
	if cl.FirestoreDatabase == "" {
		cl.FirestoreDatabase = "(default)"
	}
	cl.AdminAllow, cl.AdminIAPAudience = list(env("ACMERA_ADMIN_ALLOW")), env("ACMERA_ADMIN_IAP_AUDIENCE")
	cl.AdminAudience = env("ACMERA_ADMIN_AUDIENCE")
	if cl.AdminAudience == "" {
		cl.AdminAudience = cl.BaseURL
	}
	for _, e := range cl.AdminAllow {
		if !strings.Contains(e, "@") {
			return nil, fmt.Errorf("ACMERA_ADMIN_ALLOW: %q is not a service-account email", e)
		}
	}
	if len(cl.AdminAllow) > 0 && cl.AdminAudience == "" {
		return nil, fmt.Errorf("ACMERA_ADMIN_ALLOW is set but no audience: set ACMERA_ADMIN_AUDIENCE (or ACMERA_BASE_URL), the audience of the callers' ID tokens")
	}
	if a := cl.AdminIAPAudience; a != "" && !strings.HasPrefix(a, "/projects/") {
		return nil, fmt.Errorf("ACMERA_ADMIN_IAP_AUDIENCE=%q: must be IAP's audience, /projects/NUMBER/global/backendServices/ID or /projects/NUMBER/apps/PROJECT", a)
	}
	if cl.OIDCAudience == "" {
		cl.OIDCAudience = cl.ValidatorURL
	}
	if env("ACMERA_TRUSTED_PROXIES") == "" {
		cl.TrustedProxies = cloudRunFrontEnd()
	}
	for _, req := range []struct{ name, v string }{
		{"GOOGLE_CLOUD_PROJECT", cl.ProjectID}, {"ACMERA_CAS_POOL", cl.CASPool}, {"ACMERA_TASKS_QUEUE", cl.TasksQueue},
		{"ACMERA_TASKS_SERVICE_ACCOUNT", cl.TasksServiceAccount}, {"ACMERA_VALIDATOR_URL", cl.ValidatorURL},
	} {
		if req.v == "" {
			return nil, fmt.Errorf("%s is required", req.name)
		}
	}
	if !poolName.MatchString(cl.CASPool) {
		return nil, fmt.Errorf("ACMERA_CAS_POOL=%q: must be projects/P/locations/L/caPools/X", cl.CASPool)
	}
	if !queueName.MatchString(cl.TasksQueue) {
		return nil, fmt.Errorf("ACMERA_TASKS_QUEUE=%q: must be projects/P/locations/L/queues/Q", cl.TasksQueue)
	}
	if k := env("ACMERA_NONCE_KEY"); k != "" {
		if cl.NonceKey, err = decodeKey("ACMERA_NONCE_KEY", k); err != nil {
			return nil, err
		}
	} else if env("FUNCTION_TARGET") != "Validate" && env("ACMERA_PROFILES_ALLOW_ANY") != "true" {
		return nil, fmt.Errorf("ACMERA_NONCE_KEY is required: 32 random bytes, base64, shared by every instance")
	}
	return cl, nil
}
