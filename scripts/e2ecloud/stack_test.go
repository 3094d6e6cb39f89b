package e2ecloud

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"strconv"
	"testing"

	"github.com/acmera/acmera/scripts/internal/e2eutil"
)

// Names the functions are configured with; the fakes accept any project.
const (
	casPool        = "projects/acmera-test/locations/us-central1/caPools/acmera"
	tasksQueue     = "projects/acmera-test/locations/us-central1/queues/validate"
	serviceAccount = "tasks@acmera-test.iam.gserviceaccount.com"
)

// stack is one deployment of the Cloud functions: an ACME process and a
// Validate process on their own Firestore project (so tests sharing the
// emulator never see each other's documents), the Google fakes, and the
// loopback responders their validations reach.
type stack struct {
	*e2eutil.Responders
	t        *testing.T
	Project  string
	GCP      gcpEndpoints
	ACME     *fnProc
	Validate *fnProc
	DirURL   string
	fnEnv    []string // the functions' environment
}

// newStack starts the responders and both functions against gcp; extraEnv
// ("NAME=value") is added to (and overrides) the functions' environment.
func newStack(t *testing.T, gcp gcpEndpoints, extraEnv ...string) *stack {
	t.Helper()
	needEmulator(t)
	s := &stack{Responders: e2eutil.StartResponders(t, true), t: t, Project: "e2ecloud-" + randHex(t, 6), GCP: gcp}
	acmePort, validatePort := e2eutil.FreePort(t), e2eutil.FreePort(t)
	s.fnEnv = append(s.env(validatePort), extraEnv...)
	s.Validate = newFnProc(t, "Validate", validatePort, s.fnEnv)
	s.ACME = newFnProc(t, "ACME", acmePort, s.fnEnv)
	s.Validate.Start()
	s.ACME.Start()
	s.DirURL = s.ACME.URL() + "acme/acme/directory"
	return s
}

// addACME starts another ACME instance of the deployment: same Firestore
// project, nonce key, queue and CA, its own port, as Cloud Run scales out.
func (s *stack) addACME() *fnProc {
	s.t.Helper()
	p := newFnProc(s.t, "ACME", e2eutil.FreePort(s.t), s.fnEnv)
	p.logPath = logPath(s.t, "acme-"+strconv.Itoa(p.port)+".log")
	p.Start()
	return p
}

// env is the functions' environment: e2eutil.Environ (the caller's minus
// any acmera, functions-framework or Google setting) plus the stack's.
func (s *stack) env(validatePort int) []string {
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	return e2eutil.Environ(
		"FIRESTORE_EMULATOR_HOST="+emulator,
		"GOOGLE_CLOUD_PROJECT="+s.Project,
		"ACMERA_CAS_POOL="+casPool,
		"ACMERA_CAS_ENDPOINT="+s.GCP.CAS,
		// Cloud Monitoring is a network service: tests never export.
		"ACMERA_METRICS=off",
		"ACMERA_TASKS_QUEUE="+tasksQueue,
		"ACMERA_TASKS_ENDPOINT="+s.GCP.Tasks,
		"ACMERA_TASKS_SERVICE_ACCOUNT="+serviceAccount,
		"ACMERA_VALIDATOR_URL=http://127.0.0.1:"+strconv.Itoa(validatePort)+"/",
		"ACMERA_OIDC_JWKS_URL="+s.GCP.JWKSURL,
		"ACMERA_PROFILES_ALLOW_ANY=true",
		"ACMERA_NONCE_KEY="+base64.StdEncoding.EncodeToString(key),
		"ACMERA_HTTP01_PORT="+strconv.Itoa(s.HTTP01.Port),
		"ACMERA_TLSALPN01_PORT="+strconv.Itoa(s.ALPN.Port),
		"ACMERA_RESOLVERS="+s.DNS.Addr(),
		// The outbox finalize task runs 2 s after each CA call, not 75 s,
		// so a test sees it heal a killed finalize.
		"ACMERA_FINALIZE_RETRY_DELAY=2s",
		// The responders are on loopback, which the validator refuses unless reopened.
		"ACMERA_VALIDATION_NETWORKS=127.0.0.0/8,::1/128",
	)
}

// ValidatorURL is the URL Cloud Tasks delivers to (the OIDC audience).
func (s *stack) ValidatorURL() string { return s.Validate.URL() }

func randHex(t *testing.T, n int) string {
	t.Helper()
	b := make([]byte, n)
	_, err := rand.Read(b)
	mustf(t, err, "rand.Read")
	return hex.EncodeToString(b)
}
