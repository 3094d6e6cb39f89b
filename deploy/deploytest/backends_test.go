package deploytest

import (
	"fmt"
	"path"
	"slices"
	"testing"

	"github.com/acmera/acmera/pkg/config"
)

// TestBackendExamplesPlan plans the vault, aws-private-ca and adcs examples and
// checks, per Cloud Run service, that the planned configuration is one
// acmera accepts at start (config.ReadCloud: the backends object, every
// profile's backend), that each file a backend reads is a mounted secret
// the service's account may read, and that the secrets stay out of env.
func TestBackendExamplesPlan(t *testing.T) {
	tests := []struct {
		dir     string
		vars    []string
		backend string // the generated backend
		typ     string
		files   int // files the backend reads from secrets
	}{
		{"terraform/examples/vault", []string{"vault_ca_cert_pem=-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----"}, "onprem", "vault", 1},
		{"terraform/examples/aws-private-ca", nil, "aws", "awspca", 0},
		// Kerberos with a keytab (given base64), IIS's roots, DCOM revocation.
		{"terraform/examples/adcs", []string{"adcs_keytab_base64=a2V5dGFiBQL/", "adcs_ca_name=Corp Issuing CA",
			"adcs_ca_bundle_pem=-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----"}, "corp", "adcs", 2},
		// The module with AD CS over NTLM, and Kerberos with a password added out of band.
		{"terraform", []string{"image=us-docker.pkg.dev/demo-project/acmera/acmera:v1", "vpc_egress=none",
			`adcs_backends={nt={base_url="https://10.0.0.9/certsrv",template="T",auth={method="ntlm",domain="CORP",username="svc"},approval_deadline="90m"},kp={base_url="https://ca.corp.example",auth={method="kerberos",realm="CORP.EXAMPLE",kdc=["10.0.0.2:88"],spn="HTTP/ca.corp.example",username="svc",credential="password"}}}`,
			`adcs_auth_secrets={nt="pass-word"}`,
			`profiles_json={"profiles":{"acme":{"dnsSuffixes":["example.com"]},"nt":{"backend":"nt","caTemplate":"Other","dnsSuffixes":["nt.example"]},"kp":{"backend":"kp","caTemplate":"T","dnsSuffixes":["kp.example"]}}}`}, "kp", "adcs", 1},
		// The module with the other Vault logins: AppRole and a token.
		{"terraform", []string{"image=us-docker.pkg.dev/demo-project/acmera/acmera:v1", "vpc_egress=none",
			`vault_backends={ar={address="https://vault.example:8200",mount="pki",role="acmera",auth={method="approle",role_id="r-1"}},tk={address="https://10.0.0.5:8200",mount="pki/int",role="acmera",namespace="team",auth={method="token"}}}`,
			`vault_auth_secrets={ar="s.secret-id"}`,
			`profiles_json={"profiles":{"acme":{"dnsSuffixes":["example.com"]},"ar":{"backend":"ar","dnsSuffixes":["ar.example"]},"tk":{"backend":"tk","dnsSuffixes":["tk.example"]}}}`}, "ar", "vault", 1},
	}
	for _, tc := range tests {
		t.Run(path.Base(tc.dir)+"/"+tc.backend, func(t *testing.T) {
			t.Parallel()
			vars := append([]string{"project_id=" + demoProject, "ca_pool_id=" + demoPool}, tc.vars...)
			plan, out, err := tfPlan(t, tc.dir, vars...)
			if err != nil {
				t.Fatalf("tf-validate: %v\n%s", err, out)
			}
			readers := secretReaders(plan)
			for _, svc := range created(plan, "google_cloud_run_v2_service") {
				name := fmt.Sprint(svc["name"])
				env := plannedEnv(t, svc)
				cfg, err := config.ReadCloud(func(k string) string { return env[k] })
				if err != nil {
					t.Fatalf("%s: config.ReadCloud: %v", name, err)
				}
				i := slices.IndexFunc(cfg.Backends, func(b config.Backend) bool { return b.Name == tc.backend })
				if i < 0 || cfg.Backends[i].Type != tc.typ {
					t.Fatalf("%s: backends %+v: want %s of type %s", name, cfg.Backends, tc.backend, tc.typ)
				}
				mounts := secretMounts(t, svc)
				var files []string
				if v := cfg.Backends[i].Vault; v != nil {
					files = []string{v.CACertFile, v.Auth.SecretIDFile, v.Auth.TokenFile}
				}
				if a := cfg.Backends[i].ADCS; a != nil {
					files = []string{a.CABundleFile, a.Auth.KeytabFile, a.Auth.PasswordFile}
				}
				files = slices.DeleteFunc(files, func(s string) bool { return s == "" })
				if len(files) != tc.files {
					t.Errorf("%s: backend reads files %v, want %d", name, files, tc.files)
				}
				// The service account is computed; the module names it after the service.
				member := fmt.Sprintf("serviceAccount:%s@%s.iam.gserviceaccount.com", name, demoProject)
				for _, f := range files {
					secret, ok := mounts[f]
					if !ok {
						t.Errorf("%s: %s is not a mounted secret file (mounts %v)", name, f, mounts)
						continue
					}
					if !slices.Contains(readers[secret], member) {
						t.Errorf("%s: %s may not read secret %s (readers %v)", name, member, secret, readers[secret])
					}
				}
			}
		})
	}
}

// secretMounts maps each file a service's secret volumes provide to its
// secret.
func secretMounts(t *testing.T, svc map[string]any) map[string]string {
	t.Helper()
	dirs := map[string]string{}
	mounts, _ := at(svc, "template", 0, "containers", 0, "volume_mounts").([]any)
	for _, m := range mounts {
		dirs[fmt.Sprint(at(m, "name"))] = fmt.Sprint(at(m, "mount_path"))
	}
	files := map[string]string{}
	vols, _ := at(svc, "template", 0, "volumes").([]any)
	for _, v := range vols {
		dir, ok := dirs[fmt.Sprint(at(v, "name"))]
		if !ok {
			t.Errorf("volume %v is not mounted", at(v, "name"))
			continue
		}
		items, _ := at(v, "secret", 0, "items").([]any)
		for _, it := range items {
			files[path.Join(dir, fmt.Sprint(at(it, "path")))] = fmt.Sprint(at(v, "secret", 0, "secret"))
		}
	}
	return files
}

// secretReaders maps each secret to the members granted secretAccessor on it.
func secretReaders(plan map[string]any) map[string][]string {
	out := map[string][]string{}
	for _, b := range created(plan, "google_secret_manager_secret_iam_member") {
		if b["role"] == "roles/secretmanager.secretAccessor" {
			s := fmt.Sprint(b["secret_id"])
			out[s] = append(out[s], fmt.Sprint(b["member"]))
		}
	}
	return out
}
