package deploytest

import (
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/acmera/acmera/pkg/policy"
)

// fsIndex is one composite index as terraform/firestore_indexes.json lists it
// (the Firestore store's maintainers own that file).
type fsIndex struct {
	Collection string `json:"collection"`
	QueryScope string `json:"queryScope,omitempty"`
	Fields     []struct {
		Path        string `json:"path"`
		Order       string `json:"order,omitempty"`
		ArrayConfig string `json:"arrayConfig,omitempty"`
	} `json:"fields"`
}

func (x fsIndex) key() string {
	scope := x.QueryScope
	if scope == "" {
		scope = "COLLECTION"
	}
	parts := []string{x.Collection, scope}
	for _, f := range x.Fields {
		parts = append(parts, f.Path+" "+f.Order+f.ArrayConfig)
	}
	return strings.Join(parts, "|")
}

func loadIndexes(t *testing.T) []fsIndex {
	t.Helper()
	var idx []fsIndex
	dec := json.NewDecoder(strings.NewReader(readRepoFile(t, "terraform/firestore_indexes.json")))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&idx); err != nil {
		t.Fatalf("terraform/firestore_indexes.json: %v", err)
	}
	return idx
}

// TestFirestoreIndexList checks the index list is well formed: composite
// (two or more fields), each field ordered or array-configured, no duplicates.
func TestFirestoreIndexList(t *testing.T) {
	seen := map[string]bool{}
	for i, x := range loadIndexes(t) {
		t.Run(fmt.Sprintf("%d-%s", i, x.Collection), func(t *testing.T) {
			if x.Collection == "" || len(x.Fields) < 2 {
				t.Errorf("collection %q with %d fields: want a composite index", x.Collection, len(x.Fields))
			}
			if x.QueryScope != "" && x.QueryScope != "COLLECTION" && x.QueryScope != "COLLECTION_GROUP" {
				t.Errorf("queryScope %q", x.QueryScope)
			}
			for _, f := range x.Fields {
				ordered := f.Order == "ASCENDING" || f.Order == "DESCENDING"
				if f.Path == "" || ordered == (f.ArrayConfig == "CONTAINS") {
					t.Errorf("field %+v: want a path and exactly one of order or arrayConfig CONTAINS", f)
				}
			}
			if seen[x.key()] {
				t.Errorf("duplicate index %s", x.key())
			}
			seen[x.key()] = true
		})
	}
}

// TestBasicPlan plans terraform/examples/basic offline and checks that every
// index the store needs becomes a google_firestore_index, and that each Cloud
// Run service's planned configuration starts the real binary.
func TestBasicPlan(t *testing.T) {
	plan, out, err := tfPlan(t, "terraform/examples/basic", "project_id="+demoProject, "ca_pool_id="+demoPool)
	if err != nil {
		t.Fatalf("tf-validate: %v\n%s", err, out)
	}
	t.Run("indexes", func(t *testing.T) {
		var planned []string
		for _, r := range created(plan, "google_firestore_index") {
			x := fsIndex{Collection: fmt.Sprint(r["collection"]), QueryScope: fmt.Sprint(r["query_scope"])}
			fields, _ := r["fields"].([]any)
			for _, f := range fields {
				var pf struct{ Path, Order, ArrayConfig string }
				pf.Path, _ = at(f, "field_path").(string)
				pf.Order, _ = at(f, "order").(string)
				pf.ArrayConfig, _ = at(f, "array_config").(string)
				x.Fields = append(x.Fields, struct {
					Path        string `json:"path"`
					Order       string `json:"order,omitempty"`
					ArrayConfig string `json:"arrayConfig,omitempty"`
				}{pf.Path, pf.Order, pf.ArrayConfig})
			}
			planned = append(planned, x.key())
		}
		for _, x := range loadIndexes(t) {
			if !slices.Contains(planned, x.key()) {
				t.Errorf("index %s is missing from the plan (planned: %v)", x.key(), planned)
			}
		}
		if n := len(loadIndexes(t)); len(planned) != n {
			t.Errorf("plan has %d google_firestore_index, firestore_indexes.json lists %d", len(planned), n)
		}
	})
	t.Run("ttl", func(t *testing.T) {
		var ttl []string
		for _, r := range created(plan, "google_firestore_field") {
			if r["field"] == "expireAt" && at(r, "ttl_config", 0) != nil {
				ttl = append(ttl, fmt.Sprint(r["collection"]))
			}
		}
		for _, c := range []string{"nonces", "orders", "authorizations", "certificates"} {
			if !slices.Contains(ttl, c) {
				t.Errorf("no TTL policy on %s.expireAt (have %v)", c, ttl)
			}
		}
	})
	bin := buildBinary(t)
	for _, svc := range created(plan, "google_cloud_run_v2_service") {
		t.Run(fmt.Sprint(svc["name"]), func(t *testing.T) {
			t.Parallel()
			env := plannedEnv(t, svc)
			port := freePort(t)
			env["PORT"] = strconv.Itoa(port)
			for k, v := range offlineEndpoints {
				env[k] = v
			}
			startBinary(t, bin, env, "127.0.0.1:"+strconv.Itoa(port))
			if env["FUNCTION_TARGET"] == "ACME" {
				getDirectory(t, port)
			}
		})
	}
}

// plannedEnv returns a service's planned container env; values read from
// Secret Manager get test stand-ins of the documented shape.
func plannedEnv(t *testing.T, svc map[string]any) map[string]string {
	t.Helper()
	stand := map[string]string{"ACMERA_NONCE_KEY": "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="}
	env := map[string]string{}
	list, _ := at(svc, "template", 0, "containers", 0, "env").([]any)
	for _, e := range list {
		name, _ := at(e, "name").(string)
		if v, ok := at(e, "value").(string); ok {
			env[name] = v
			continue
		}
		if at(e, "value_source", 0, "secret_key_ref", 0, "secret") == nil {
			t.Fatalf("env %s has neither a value nor a secret", name)
		}
		v, ok := stand[name]
		if !ok {
			t.Fatalf("env %s comes from a secret the test has no stand-in for", name)
		}
		env[name] = v
	}
	return env
}

// TestNewCAPoolPlan checks the new-ca-pool example creates the pool and root
// CA and passes a policy that pkg/policy accepts.
func TestNewCAPoolPlan(t *testing.T) {
	plan, out, err := tfPlan(t, "terraform/examples/new-ca-pool", "project_id="+demoProject)
	if err != nil {
		t.Fatalf("tf-validate: %v\n%s", err, out)
	}
	if n := len(created(plan, "google_privateca_ca_pool")); n != 1 {
		t.Errorf("%d CA pools planned, want 1", n)
	}
	if n := len(created(plan, "google_privateca_certificate_authority")); n != 1 {
		t.Errorf("%d CAs planned, want 1", n)
	}
	for _, svc := range created(plan, "google_cloud_run_v2_service") {
		env := plannedEnv(t, svc)
		if _, err := policy.Parse([]byte(env["ACMERA_PROFILES_JSON"])); err != nil {
			t.Errorf("%s: ACMERA_PROFILES_JSON: %v", svc["name"], err)
		}
	}
}

// TestModuleRejects checks the module's cross-variable rules stop a plan.
func TestModuleRejects(t *testing.T) {
	base := []string{"project_id=" + demoProject, "image=us-docker.pkg.dev/demo-project/acmera/acmera:v1", "vpc_egress=none"}
	profiles := `profiles_json={"profiles":{"acme":{}}}`
	tests := []struct {
		name string
		vars []string
		want string
	}{
		{"no CA pool", []string{profiles}, "Set exactly one of ca_pool_id"},
		{"two CA pools", []string{profiles, "ca_pool_id=" + demoPool, "create_ca_pool=true"}, "Set exactly one of ca_pool_id"},
		{"no policy", []string{"ca_pool_id=" + demoPool}, "needs an issuance policy"},
		{"load balancer without hostname", []string{profiles, "ca_pool_id=" + demoPool, "create_internal_lb=true", "subnetwork=default", "lb_ssl_certificate_id=x"}, "needs subnetwork and lb_hostname"},
		{"short nonce key", []string{profiles, "ca_pool_id=" + demoPool, "nonce_key=c2hvcnQ="}, "exactly 32 bytes"},
		{"validation network without a length", []string{profiles, "ca_pool_id=" + demoPool, `validation_networks=["127.0.0.0/8","10.0.0.0"]`}, "must be a CIDR range"},
		{"validation network with host bits", []string{profiles, "ca_pool_id=" + demoPool, `validation_networks=["127.0.0.1/8"]`}, "must be a CIDR range"},
		{"IPv4-mapped validation network", []string{profiles, "ca_pool_id=" + demoPool, `validation_networks=["::ffff:127.0.0.0/104"]`}, "must be a CIDR range"},
		{"vault over http", []string{profiles, "ca_pool_id=" + demoPool, `vault_backends={v={address="http://vault.example:8200",mount="pki",role="r",auth={role="r",audience="a"}}}`}, "must be an https URL"},
		{"vault auth method", []string{profiles, "ca_pool_id=" + demoPool, `vault_backends={v={address="https://vault.example",mount="pki",role="r",auth={method="kubernetes"}}}`}, "must be jwt, approle or token"},
		{"vault jwt without audience", []string{profiles, "ca_pool_id=" + demoPool, `vault_backends={v={address="https://vault.example",mount="pki",role="r",auth={role="r"}}}`}, "method jwt needs role"},
		{"reserved backend name", []string{profiles, "ca_pool_id=" + demoPool, `awspca_backends={cas={ca_arn="arn:aws:acm-pca:eu-west-1:111122223333:certificate-authority/x",role_arn="arn:aws:iam::111122223333:role/r",audience="a"}}`}, "not \"cas\" or \"local\""},
		{"AWS CA ARN", []string{profiles, "ca_pool_id=" + demoPool, `awspca_backends={a={ca_arn="arn:aws:acm:eu-west-1:111122223333:certificate/x",role_arn="arn:aws:iam::111122223333:role/r",audience="a"}}`}, "must be arn:aws:acm-pca:REGION:ACCOUNT:certificate-authority/ID"},
		{"AWS role ARN", []string{profiles, "ca_pool_id=" + demoPool, `awspca_backends={a={ca_arn="arn:aws:acm-pca:eu-west-1:111122223333:certificate-authority/x",role_arn="arn:aws:iam::111122223333:user/u",audience="a"}}`}, "must be an IAM role ARN"},
		{"profile on an undefined backend", []string{`profiles_json={"profiles":{"acme":{"backend":"nope"}}}`, "ca_pool_id=" + demoPool}, "names a \"backend\" that is neither"},
		{"backends without profiles", []string{"profiles_allow_any=true", "ca_pool_id=" + demoPool, `awspca_backends={a={ca_arn="arn:aws:acm-pca:eu-west-1:111122223333:certificate-authority/x",role_arn="arn:aws:iam::111122223333:role/r",audience="a"}}`}, "are used by profiles"},
		{"adcs over http", []string{profiles, "ca_pool_id=" + demoPool, `adcs_backends={c={base_url="http://ca.example/certsrv",auth={method="kerberos",realm="R",kdc=["dc:88"],username="u"}}}`}, "must be https://HOST[/certsrv]"},
		{"adcs template with a colon", []string{profiles, "ca_pool_id=" + demoPool, `adcs_backends={c={base_url="https://ca.example",template="a:b",auth={method="kerberos",realm="R",kdc=["dc:88"],username="u"}}}`}, "must be a template name"},
		{"adcs auth method", []string{profiles, "ca_pool_id=" + demoPool, `adcs_backends={c={base_url="https://ca.example",auth={method="basic",username="u"}}}`}, "must be kerberos or ntlm"},
		{"adcs kerberos without KDC", []string{profiles, "ca_pool_id=" + demoPool, `adcs_backends={c={base_url="https://ca.example",auth={method="kerberos",realm="R",username="u"}}}`}, "method kerberos needs realm"},
		{"adcs KDC without port", []string{profiles, "ca_pool_id=" + demoPool, `adcs_backends={c={base_url="https://ca.example",auth={method="kerberos",realm="R",kdc=["dc"],username="u"}}}`}, "must be host:port"},
		{"adcs SPN", []string{profiles, "ca_pool_id=" + demoPool, `adcs_backends={c={base_url="https://ca.example",auth={method="kerberos",realm="R",kdc=["dc:88"],spn="HOST/ca",username="u"}}}`}, "must be HTTP/<web server host>"},
		{"adcs ntlm without domain", []string{profiles, "ca_pool_id=" + demoPool, `adcs_backends={c={base_url="https://ca.example",auth={method="ntlm",username="u"}}}`}, "method ntlm needs domain"},
		{"adcs ntlm with a keytab", []string{profiles, "ca_pool_id=" + demoPool, `adcs_backends={c={base_url="https://ca.example",auth={method="ntlm",domain="D",username="u",credential="keytab"}}}`}, "keytab (kerberos only"},
		{"adcs dcom without CA name", []string{profiles, "ca_pool_id=" + demoPool, `adcs_backends={c={base_url="https://ca.example",revocation="dcom",auth={method="kerberos",realm="R",kdc=["dc:88"],username="u"}}}`}, "ca_name is required with revocation dcom"},
		{"adcs approval deadline", []string{profiles, "ca_pool_id=" + demoPool, `adcs_backends={c={base_url="https://ca.example",approval_deadline="0h",auth={method="kerberos",realm="R",kdc=["dc:88"],username="u"}}}`}, "must be a positive Go duration"},
		{"adcs keytab not base64", []string{profiles, "ca_pool_id=" + demoPool, `adcs_backends={c={base_url="https://ca.example",auth={method="kerberos",realm="R",kdc=["dc:88"],username="u"}}}`, `adcs_auth_secrets={c="not base64!"}`}, "must be given base64"},
		{"adcs secret for no backend", []string{profiles, "ca_pool_id=" + demoPool, `adcs_auth_secrets={x="pw"}`}, "adcs_auth_secrets names must be adcs_backends entries"},
		{"backend name twice", []string{profiles, "ca_pool_id=" + demoPool, `adcs_backends={c={base_url="https://ca.example",auth={method="kerberos",realm="R",kdc=["dc:88"],username="u"}}}`, `awspca_backends={c={ca_arn="arn:aws:acm-pca:eu-west-1:111122223333:certificate-authority/x",role_arn="arn:aws:iam::111122223333:role/r",audience="a"}}`}, "may be used once"},
		{"auth secret for a jwt backend", []string{profiles, "ca_pool_id=" + demoPool, `vault_backends={v={address="https://vault.example",mount="pki",role="r",auth={role="r",audience="a"}}}`, `vault_auth_secrets={v="x"}`}, "whose auth method is approle or token"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, out, err := tfPlan(t, "terraform", append(append([]string{}, base...), tc.vars...)...)
			if err == nil {
				t.Fatalf("plan succeeded, want an error containing %q", tc.want)
			}
			if !strings.Contains(strings.Join(strings.Fields(out), " "), tc.want) {
				t.Errorf("plan failed without %q:\n%s", tc.want, out)
			}
		})
	}
}
