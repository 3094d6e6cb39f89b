package e2e

import (
	"context"
	"crypto"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/acme"
	"gopkg.in/yaml.v3"

	"github.com/acmera/acmera/scripts/internal/e2eutil"
)

const (
	// cmTimeout bounds the whole run of the real controller.
	cmTimeout = 5 * time.Minute
	// cmIssueTimeout bounds one issuance, Certificate to Ready; it covers
	// the fixed 60 s wait after cert-manager's dns01 self-check succeeds.
	cmIssueTimeout = 150 * time.Second
	// cmNamespace holds the Certificate; cmResourceNS the ClusterIssuer's
	// Secrets (--cluster-resource-namespace).
	cmNamespace, cmResourceNS = "e2e", "cert-manager"
	cmZone                    = "e2e.test"
)

// The two Certificates: "www" goes through cert-manager's dns01
// self-check (against named, then a fixed 60 s wait in its dns01 solver's
// Check); "fast" through the solver that sets waitInsteadOfSelfCheck: 0s,
// which skips both and lets acmera's own validation decide at once.
var cmCerts = []struct{ name, dnsName string }{{"www", "www.e2e.test"}, {"fast", "fast.e2e.test"}}

// cmBins are the programs the real-controller run needs; scripts/test.sh
// gets the first three from scripts/k8s-build.sh.
type cmBins struct {
	apiserver, controller, crds, etcd, named string
}

// lookupCMBins finds the programs, or skips (fails under CI=true).
func lookupCMBins(t *testing.T) cmBins {
	t.Helper()
	var b cmBins
	for _, v := range []struct {
		env string
		dst *string
	}{{"KUBE_APISERVER_BIN", &b.apiserver}, {"CMCONTROLLER_BIN", &b.controller}, {"CERT_MANAGER_CRDS", &b.crds}} {
		if *v.dst = os.Getenv(v.env); *v.dst == "" {
			e2eutil.Missing(t, "%s is not set: eval \"$(scripts/k8s-build.sh)\" builds and sets it", v.env)
		}
	}
	for _, v := range []struct {
		name, pkg string
		dst       *string
	}{{"etcd", "etcd-server", &b.etcd}, {"named", "bind9", &b.named}} {
		p, err := exec.LookPath(v.name)
		if err != nil {
			p, err = exec.LookPath("/usr/sbin/" + v.name)
		}
		if err != nil {
			e2eutil.Missing(t, "%s not found (apt-get install %s)", v.name, v.pkg)
		}
		*v.dst = p
	}
	return b
}

// TestCertManagerController runs the real cert-manager controllers
// (scripts/cmcontroller, out of cluster) against a real kube-apiserver
// and etcd, with a ClusterIssuer pointed at acmera and a dns01 RFC 2136
// solver updating a real BIND 9: two 24 h Certificates become Ready (one
// through cert-manager's dns01 self-check, one without it), then a forced
// renewal (as cmctl renew does it) issues a new certificate. Each lands in
// its Secret, chaining to acmera's root with the right SAN.
func TestCertManagerController(t *testing.T) {
	t.Parallel()
	bins := lookupCMBins(t)
	ctx := e2eutil.TestContext(t, cmTimeout)
	start := time.Now()
	dir := t.TempDir()
	for _, d := range []string{"kube", "bind", "controller"} {
		if err := os.Mkdir(filepath.Join(dir, d), 0o700); err != nil {
			t.Fatal(err)
		}
	}
	kube := e2eutil.StartKube(t, bins.etcd, bins.apiserver, filepath.Join(dir, "kube"))
	installCRDs(ctx, t, kube, bins.crds)
	for _, ns := range []string{cmNamespace, cmResourceNS} {
		create(ctx, t, kube, "/api/v1/namespaces", obj{"apiVersion": "v1", "kind": "Namespace", "metadata": obj{"name": ns}})
	}
	named := e2eutil.StartBind9(t, bins.named, filepath.Join(dir, "bind"), cmZone)
	srv := startServer(t, e2eutil.ServerConfig{Resolver: named.Addr})
	startCMController(t, bins.controller, kube, named, filepath.Join(dir, "controller"))
	t.Logf("apiserver, CRDs, named, acmera and the controller up in %s", time.Since(start).Round(time.Millisecond))

	createIssuer(ctx, t, kube, srv, named)
	issued := time.Now()
	for _, c := range cmCerts {
		create(ctx, t, kube, "/apis/cert-manager.io/v1/namespaces/"+cmNamespace+"/certificates", obj{
			"apiVersion": "cert-manager.io/v1", "kind": "Certificate",
			"metadata": obj{"name": c.name, "namespace": cmNamespace},
			"spec": obj{
				"secretName": c.name + "-tls", "dnsNames": []string{c.dnsName}, "duration": "24h",
				"issuerRef":  obj{"name": "acmera", "kind": "ClusterIssuer", "group": "cert-manager.io"},
				"privateKey": obj{"algorithm": "ECDSA", "size": 256, "rotationPolicy": "Always"},
			},
		})
	}
	var first *x509.Certificate
	for _, c := range []int{1, 0} { // "fast" first: it does not wait the 60 s
		waitCertificate(ctx, t, kube, cmCerts[c].name, 1)
		leaf := checkSecret(ctx, t, kube, srv, cmCerts[c].name, cmCerts[c].dnsName)
		t.Logf("%s issued in %s (serial %x)", cmCerts[c].name, time.Since(issued).Round(time.Millisecond), leaf.SerialNumber)
		first = leaf
	}

	renewed := time.Now()
	www := cmCerts[0]
	forceRenewal(ctx, t, kube, www.name)
	waitCertificate(ctx, t, kube, www.name, 2)
	second := checkSecret(ctx, t, kube, srv, www.name, www.dnsName)
	t.Logf("%s renewed in %s (serial %x); %s; whole run %s", www.name, time.Since(renewed).Round(time.Millisecond),
		second.SerialNumber, countACME(ctx, t, kube), time.Since(start).Round(time.Millisecond))
	if second.SerialNumber.Cmp(first.SerialNumber) == 0 {
		t.Fatalf("renewal kept serial %x", first.SerialNumber)
	}
}

// obj is a Kubernetes object or part of one, as JSON.
type obj = map[string]any

func create(ctx context.Context, t *testing.T, k *e2eutil.Kube, path string, o obj) {
	t.Helper()
	if err := k.Do(ctx, "POST", path, "", o, nil); err != nil {
		t.Fatalf("create: %v", err)
	}
}

// installCRDs creates every CustomResourceDefinition in dir (cert-manager's
// deploy/crds) and waits until each is Established.
func installCRDs(ctx context.Context, t *testing.T, k *e2eutil.Kube, dir string) {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, "*.yaml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no CRDs in %s (%v)", dir, err)
	}
	var names []string
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var crd obj
		if err := yaml.Unmarshal(b, &crd); err != nil {
			t.Fatalf("%s: yaml.Unmarshal: %v", f, err)
		}
		if crd["kind"] != "CustomResourceDefinition" {
			continue
		}
		create(ctx, t, k, "/apis/apiextensions.k8s.io/v1/customresourcedefinitions", crd)
		names = append(names, crd["metadata"].(obj)["name"].(string))
	}
	for _, n := range names {
		poll(ctx, t, 30*time.Second, "CRD "+n+" Established", func() (bool, string) {
			var crd obj
			if err := k.Do(ctx, "GET", "/apis/apiextensions.k8s.io/v1/customresourcedefinitions/"+n, "", nil, &crd); err != nil {
				return false, err.Error()
			}
			return condition(crd, "Established") == "True", "not established"
		})
	}
}

// startCMController runs scripts/cmcontroller against the apiserver, its
// dns01 self-check asking only named (as a cluster whose recursive
// resolvers cannot see the zone would be configured), every second.
func startCMController(t *testing.T, bin string, k *e2eutil.Kube, named *e2eutil.Bind9, dir string) {
	t.Helper()
	cmd := exec.Command(bin, "--kubeconfig="+k.Kubeconfig, "--cluster-resource-namespace="+cmResourceNS,
		"--dns01-recursive-nameservers="+named.Addr, "--dns01-recursive-nameservers-only",
		"--dns01-check-retry-period=1s", "-v=2")
	cmd.Env = e2eutil.Environ()
	logPath := filepath.Join(dir, "cmcontroller.log")
	p, err := e2eutil.StartProcess(e2eutil.ProcessConfig{Name: "cmcontroller", Cmd: cmd, LogPath: logPath})
	if err != nil {
		t.Fatalf("start cmcontroller: %v", err)
	}
	t.Cleanup(func() {
		if err := p.Stop(e2eutil.StopGrace); err != nil {
			t.Logf("stop cmcontroller: %v", err)
		}
		if t.Failed() {
			e2eutil.DumpLog(t, "cmcontroller", logPath)
		}
	})
}

// createIssuer creates the TSIG Secret and an ACME ClusterIssuer for
// acmera (its root as caBundle) with an RFC 2136 dns01 solver for named,
// and waits until the issuer has registered its account (Ready=True).
func createIssuer(ctx context.Context, t *testing.T, k *e2eutil.Kube, srv *server, named *e2eutil.Bind9) {
	t.Helper()
	create(ctx, t, k, "/api/v1/namespaces/"+cmResourceNS+"/secrets", obj{
		"apiVersion": "v1", "kind": "Secret", "metadata": obj{"name": "tsig", "namespace": cmResourceNS},
		"data": obj{"secret": base64.StdEncoding.EncodeToString([]byte(named.Secret))},
	})
	root, err := os.ReadFile(srv.RootPEM)
	if err != nil {
		t.Fatal(err)
	}
	rfc2136 := obj{"rfc2136": obj{
		"nameserver": named.Addr, "tsigKeyName": named.KeyName, "tsigAlgorithm": "HMACSHA256",
		"tsigSecretSecretRef": obj{"name": "tsig", "key": "secret"},
	}}
	create(ctx, t, k, "/apis/cert-manager.io/v1/clusterissuers", obj{
		"apiVersion": "cert-manager.io/v1", "kind": "ClusterIssuer", "metadata": obj{"name": "acmera"},
		"spec": obj{"acme": obj{
			"server": srv.DirURL, "caBundle": base64.StdEncoding.EncodeToString(root),
			"email": "e2e@example.com", "privateKeySecretRef": obj{"name": "acmera-account"},
			"enableDurationFeature": true,
			"solvers": []obj{
				{"dns01": rfc2136},
				{"dns01": rfc2136, "waitInsteadOfSelfCheck": "0s", "selector": obj{"dnsNames": []string{cmCerts[1].dnsName}}},
			},
		}},
	})
	poll(ctx, t, 60*time.Second, "ClusterIssuer Ready", func() (bool, string) {
		var iss obj
		if err := k.Do(ctx, "GET", "/apis/cert-manager.io/v1/clusterissuers/acmera", "", nil, &iss); err != nil {
			return false, err.Error()
		}
		return condition(iss, "Ready") == "True", jsonString(iss["status"])
	})
}

// certPath is the API path of the Certificate name.
func certPath(name string) string {
	return "/apis/cert-manager.io/v1/namespaces/" + cmNamespace + "/certificates/" + name
}

// waitCertificate waits until the Certificate name is Ready at revision
// (or later) and no longer Issuing.
func waitCertificate(ctx context.Context, t *testing.T, k *e2eutil.Kube, name string, revision float64) {
	t.Helper()
	poll(ctx, t, cmIssueTimeout, fmt.Sprintf("Certificate %s Ready at revision %v", name, revision), func() (bool, string) {
		var c obj
		if err := k.Do(ctx, "GET", certPath(name), "", nil, &c); err != nil {
			return false, err.Error()
		}
		st, _ := c["status"].(obj)
		rev, _ := st["revision"].(float64)
		ok := rev >= revision && condition(c, "Ready") == "True" && condition(c, "Issuing") == ""
		return ok, jsonString(st) + "\n" + dumpACME(ctx, k)
	})
}

// forceRenewal sets the Certificate's Issuing condition as cmctl renew
// does, which makes cert-manager issue it again now.
func forceRenewal(ctx context.Context, t *testing.T, k *e2eutil.Kube, name string) {
	t.Helper()
	var c obj
	if err := k.Do(ctx, "GET", certPath(name), "", nil, &c); err != nil {
		t.Fatalf("get Certificate: %v", err)
	}
	st := c["status"].(obj)
	conds, _ := st["conditions"].([]any)
	st["conditions"] = append(conds, obj{
		"type": "Issuing", "status": "True", "reason": "ManuallyTriggered",
		"message": "Certificate re-issuance manually triggered", "lastTransitionTime": time.Now().UTC().Format(time.RFC3339),
		"observedGeneration": c["metadata"].(obj)["generation"],
	})
	if err := k.Do(ctx, "PUT", certPath(name)+"/status", "", c, nil); err != nil {
		t.Fatalf("set Issuing: %v", err)
	}
}

// checkSecret checks the Certificate name's Secret: tls.crt is a chain
// that verifies to acmera's root, for dnsName only, valid for about 24 h,
// and tls.key is its key. It returns the leaf.
func checkSecret(ctx context.Context, t *testing.T, k *e2eutil.Kube, srv *server, name, dnsName string) *x509.Certificate {
	t.Helper()
	var s struct {
		Data map[string][]byte `json:"data"`
	}
	if err := k.Do(ctx, "GET", "/api/v1/namespaces/"+cmNamespace+"/secrets/"+name+"-tls", "", nil, &s); err != nil {
		t.Fatalf("get Secret: %v", err)
	}
	pair, err := tls.X509KeyPair(s.Data["tls.crt"], s.Data["tls.key"])
	if err != nil {
		t.Fatalf("Secret %s-tls: tls.X509KeyPair: %v", name, err)
	}
	leaf, err := e2eutil.VerifyChain(srv.Root, pair.Certificate, []acme.AuthzID{{Type: "dns", Value: dnsName}},
		pair.PrivateKey.(crypto.Signer).Public())
	if err != nil {
		t.Fatalf("Secret %s-tls: %v", name, err)
	}
	if d := leaf.NotAfter.Sub(leaf.NotBefore); d < 23*time.Hour || d > 25*time.Hour {
		t.Errorf("Secret %s-tls: leaf valid for %s, want the Certificate's 24h", name, d)
	}
	return leaf
}

// condition is the status of the object's condition typ, "" if absent.
func condition(o obj, typ string) string {
	st, _ := o["status"].(obj)
	conds, _ := st["conditions"].([]any)
	for _, c := range conds {
		if m, _ := c.(obj); m["type"] == typ {
			s, _ := m["status"].(string)
			return s
		}
	}
	return ""
}

// dumpACME summarizes the CertificateRequests, Orders and Challenges, for
// a timeout's message.
func dumpACME(ctx context.Context, k *e2eutil.Kube) string {
	var b strings.Builder
	for _, r := range []string{"cert-manager.io/v1/namespaces/" + cmNamespace + "/certificaterequests",
		"acme.cert-manager.io/v1/namespaces/" + cmNamespace + "/orders",
		"acme.cert-manager.io/v1/namespaces/" + cmNamespace + "/challenges"} {
		var list struct {
			Items []obj `json:"items"`
		}
		if err := k.Do(ctx, "GET", "/apis/"+r, "", nil, &list); err != nil {
			fmt.Fprintf(&b, "%s: %v\n", r, err)
			continue
		}
		for _, it := range list.Items {
			fmt.Fprintf(&b, "%s %s: %s\n", it["kind"], it["metadata"].(obj)["name"], jsonString(it["status"]))
		}
	}
	return b.String()
}

// countACME says how many Orders there are, how many of them found every
// authorization already valid (acmera reusing the account's authorization,
// RFC 8555 §7.4: no challenge to solve), and how many Challenges are left.
func countACME(ctx context.Context, t *testing.T, k *e2eutil.Kube) string {
	t.Helper()
	var orders, challenges struct {
		Items []obj `json:"items"`
	}
	for _, l := range []struct {
		r   string
		dst any
	}{{"orders", &orders}, {"challenges", &challenges}} {
		if err := k.Do(ctx, "GET", "/apis/acme.cert-manager.io/v1/namespaces/"+cmNamespace+"/"+l.r, "", nil, l.dst); err != nil {
			t.Fatalf("list %s: %v", l.r, err)
		}
	}
	reused := 0
	for _, o := range orders.Items {
		st, _ := o["status"].(obj)
		authzs, _ := st["authorizations"].([]any)
		valid := len(authzs) > 0
		for _, a := range authzs {
			if m, _ := a.(obj); m["initialState"] != "valid" {
				valid = false
			}
		}
		if valid {
			reused++
		}
	}
	return fmt.Sprintf("%d Orders (%d with every authorization already valid), %d Challenges left",
		len(orders.Items), reused, len(challenges.Items))
}

func jsonString(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// poll calls f every 250 ms until it returns true, failing the test after
// d (or when ctx ends) with f's last explanation.
func poll(ctx context.Context, t *testing.T, d time.Duration, what string, f func() (bool, string)) {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	for {
		ok, why := f()
		if ok {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("%s: not within %s: %s", what, d, why)
		case <-time.After(250 * time.Millisecond):
		}
	}
}
