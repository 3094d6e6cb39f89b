package e2ecloud

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/acmera/acmera/scripts/testdns"
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
	t        *testing.T
	Project  string
	GCP      gcpEndpoints
	DNS      *testdns.Server
	HTTP01   *http01Responder
	ALPN     *alpnResponder
	ACME     *fnProc
	Validate *fnProc
	DirURL   string
}

// newStack starts the responders and both functions against gcp.
func newStack(t *testing.T, gcp gcpEndpoints) *stack {
	t.Helper()
	needEmulator(t)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	dns, err := testdns.Start(ctx, testdns.Config{ControlAddr: "127.0.0.1:0"})
	mustf(t, err, "testdns.Start")
	t.Cleanup(func() { _ = dns.Close() })
	s := &stack{t: t, Project: "e2ecloud-" + randHex(t, 6), GCP: gcp, DNS: dns,
		HTTP01: startHTTP01(t), ALPN: startALPN(t)}
	acmePort, validatePort := freePort(t), freePort(t)
	env := s.env(validatePort)
	s.Validate = newFnProc(t, "Validate", validatePort, env)
	s.ACME = newFnProc(t, "ACME", acmePort, env)
	s.Validate.Start()
	s.ACME.Start()
	s.DirURL = s.ACME.URL() + "acme/acme/directory"
	return s
}

// env is the functions' environment: the caller's minus any acmera,
// functions-framework or Google setting, plus the stack's.
func (s *stack) env(validatePort int) []string {
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(k, "ACMERA_") || strings.HasPrefix(k, "GOOGLE_") ||
			k == "FUNCTION_TARGET" || k == "PORT" || k == "FIRESTORE_EMULATOR_HOST" {
			continue
		}
		env = append(env, kv)
	}
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	return append(env,
		"FIRESTORE_EMULATOR_HOST="+emulator,
		"GOOGLE_CLOUD_PROJECT="+s.Project,
		"ACMERA_CAS_POOL="+casPool,
		"ACMERA_CAS_ENDPOINT="+s.GCP.CAS,
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

// testCtx is a context bounded by d and canceled when the test ends.
func testCtx(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}
