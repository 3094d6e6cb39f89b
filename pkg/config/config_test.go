package config

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

func envOf(m map[string]string) Getenv { return func(k string) string { return m[k] } }

func TestEmbeddedDefaults(t *testing.T) {
	c, err := ReadEmbedded(envOf(nil))
	if err != nil {
		t.Fatal(err)
	}
	if c.DataDir != "./acmera-data" || c.Addr != "127.0.0.1:8443" || c.HTTP01Port != 80 || c.TLSALPN01Port != 443 {
		t.Fatalf("defaults: %+v", c)
	}
	if c.Policy.Profile("acme") == nil || !c.Policy.Profile("acme").AllowAnyName {
		t.Fatal("embedded default must allow any name")
	}
	if c.MetricsAddr != "" {
		t.Fatalf("MetricsAddr %q by default, want none (no metrics listener)", c.MetricsAddr)
	}
	if c, err := ReadEmbedded(envOf(map[string]string{"ACMERA_METRICS_ADDR": "127.0.0.1:9464"})); err != nil || c.MetricsAddr != "127.0.0.1:9464" {
		t.Fatalf("ACMERA_METRICS_ADDR: %v %v", c, err)
	}
}

func TestNewAccountRateAndProxies(t *testing.T) {
	c, err := ReadEmbedded(envOf(nil))
	if err != nil || c.NewAccountsPerHour != 300 || c.TrustedProxies != nil {
		t.Fatalf("defaults: %d %v %v, want 300 and no trusted proxy", c.NewAccountsPerHour, c.TrustedProxies, err)
	}
	c, err = ReadEmbedded(envOf(map[string]string{"ACMERA_NEW_ACCOUNT_RATE": "0",
		"ACMERA_TRUSTED_PROXIES": " 10.1.2.3/16, 192.0.2.7 ,::ffff:198.51.100.1,2001:db8::/32"}))
	if err != nil {
		t.Fatal(err)
	}
	if got := fmt.Sprint(c.TrustedProxies); c.NewAccountsPerHour != -1 || got != "[10.1.0.0/16 192.0.2.7/32 198.51.100.1/32 2001:db8::/32]" {
		t.Fatalf("got %d %s, want -1 (no limit) and the masked prefixes", c.NewAccountsPerHour, got)
	}
	if c, err = ReadEmbedded(envOf(map[string]string{"ACMERA_NEW_ACCOUNT_RATE": "25"})); err != nil || c.NewAccountsPerHour != 25 {
		t.Fatalf("rate 25: %v %v", c, err)
	}
}

func TestInvalidNamesTheVariable(t *testing.T) {
	cases := map[string]map[string]string{
		"ACMERA_HTTP01_PORT":          {"ACMERA_HTTP01_PORT": "eighty"},
		"ACMERA_TLSALPN01_PORT":       {"ACMERA_TLSALPN01_PORT": "70000"},
		"ACMERA_RESOLVERS":            {"ACMERA_RESOLVERS": "8.8.8.8"},
		"ACMERA_VALIDATION_NETWORKS":  {"ACMERA_VALIDATION_NETWORKS": "127.0.0.0/8,10.0.0.0"},
		"ACMERA_ADDR":                 {"ACMERA_ADDR": "nonsense"},
		"ACMERA_BASE_URL":             {"ACMERA_BASE_URL": "ftp://x"},
		"ACMERA_PROFILES_JSON":        {"ACMERA_PROFILES_JSON": "{"},
		"ACMERA_PROFILES":             {"ACMERA_PROFILES": "/does/not/exist.json"},
		"ACMERA_PROFILES_ALLOW_ANY":   {"ACMERA_PROFILES_ALLOW_ANY": "yes"},
		"ACMERA_LOG_LEVEL":            {"ACMERA_LOG_LEVEL": "loud"},
		"ACMERA_FINALIZE_RETRY_DELAY": {"ACMERA_FINALIZE_RETRY_DELAY": "10ms"},
		"ACMERA_RECONCILE_INTERVAL":   {"ACMERA_RECONCILE_INTERVAL": "500ms"},
		"ACMERA_TERMS_OF_SERVICE":     {"ACMERA_TERMS_OF_SERVICE": "terms.html"},
		"ACMERA_WEBSITE":              {"ACMERA_WEBSITE": "ftp://pki.example.com"},
		"ACMERA_NEW_ACCOUNT_RATE":     {"ACMERA_NEW_ACCOUNT_RATE": "-5"},
		"ACMERA_TRUSTED_PROXIES":      {"ACMERA_TRUSTED_PROXIES": "10.0.0.0/8,proxy.internal"},
		"ACMERA_METRICS_ADDR":         {"ACMERA_METRICS_ADDR": "9464"},
	}
	for name, env := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := ReadEmbedded(envOf(env))
			if err == nil || !strings.Contains(err.Error(), name) {
				t.Fatalf("error %v does not name %s", err, name)
			}
		})
	}
}

func TestDirectoryMetaURLs(t *testing.T) {
	c, err := ReadEmbedded(envOf(map[string]string{"ACMERA_TERMS_OF_SERVICE": "https://pki.example.com/terms", "ACMERA_WEBSITE": "https://pki.example.com/"}))
	if err != nil || c.TermsOfService != "https://pki.example.com/terms" || c.Website != "https://pki.example.com/" {
		t.Fatalf("got %q %q %v", c.TermsOfService, c.Website, err)
	}
}

func TestFinalizeRetryDelay(t *testing.T) {
	c, err := ReadEmbedded(envOf(map[string]string{"ACMERA_FINALIZE_RETRY_DELAY": "2s"}))
	if err != nil || c.FinalizeRetryDelay.String() != "2s" {
		t.Fatalf("FinalizeRetryDelay = %v, %v; want 2s", c.FinalizeRetryDelay, err)
	}
}

func TestReconcileInterval(t *testing.T) {
	for v, want := range map[string]time.Duration{"": DefaultReconcileInterval, "off": 0, "5s": 5 * time.Second} {
		c, err := ReadEmbedded(envOf(map[string]string{"ACMERA_RECONCILE_INTERVAL": v}))
		if err != nil || c.ReconcileInterval != want {
			t.Errorf("ACMERA_RECONCILE_INTERVAL=%q: %v, %v; want %v", v, c.ReconcileInterval, err, want)
		}
	}
}

func TestValidationNetworks(t *testing.T) {
	c, err := ReadEmbedded(envOf(nil))
	if err != nil || c.ValidationNetworks != nil {
		t.Fatalf("default ValidationNetworks = %v (%v), want none", c.ValidationNetworks, err)
	}
	c, err = ReadEmbedded(envOf(map[string]string{"ACMERA_VALIDATION_NETWORKS": " 127.0.0.0/8, ::1/128,,169.254.169.254/32 "}))
	if err != nil {
		t.Fatal(err)
	}
	if got := fmt.Sprint(c.ValidationNetworks); got != "[127.0.0.0/8 ::1/128 169.254.169.254/32]" {
		t.Fatalf("ValidationNetworks = %s", got)
	}
	for _, bad := range []string{"10.0.0.0", "10.0.0.0/33", "localhost/8", "127.0.0.1/8", "::ffff:127.0.0.0/104", "fe80::1%eth0/64"} {
		t.Run(bad, func(t *testing.T) {
			_, err := ReadEmbedded(envOf(map[string]string{"ACMERA_VALIDATION_NETWORKS": "::1/128," + bad}))
			if err == nil || !strings.Contains(err.Error(), "ACMERA_VALIDATION_NETWORKS") || !strings.Contains(err.Error(), bad) {
				t.Fatalf("error %v does not name ACMERA_VALIDATION_NETWORKS and %q", err, bad)
			}
		})
	}
}

func TestCloud(t *testing.T) {
	full := map[string]string{
		"GOOGLE_CLOUD_PROJECT": "p", "ACMERA_CAS_POOL": "projects/p/locations/l/caPools/x",
		"ACMERA_TASKS_QUEUE": "projects/p/locations/l/queues/q", "ACMERA_TASKS_SERVICE_ACCOUNT": "t@p.iam.gserviceaccount.com",
		"ACMERA_VALIDATOR_URL": "https://validator.example", "ACMERA_NONCE_KEY": "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
		"ACMERA_PROFILES_JSON": `{"profiles":{"acme":{"dnsSuffixes":["corp.example"]}}}`,
	}
	c, err := ReadCloud(envOf(full))
	if err != nil {
		t.Fatal(err)
	}
	if c.OIDCAudience != "https://validator.example" || c.Port != "8080" || c.FirestoreDatabase != "(default)" {
		t.Fatalf("cloud defaults: %+v", c)
	}
	if got := fmt.Sprint(c.TrustedProxies); got != "[169.254.0.0/16 fe80::/10]" {
		t.Fatalf("cloud trusted proxies %s, want Cloud Run's front end (link-local)", got)
	}
	full["ACMERA_TRUSTED_PROXIES"] = "none"
	if c, err := ReadCloud(envOf(full)); err != nil || c.TrustedProxies != nil {
		t.Fatalf("ACMERA_TRUSTED_PROXIES=none: %v %v", c.TrustedProxies, err)
	}
	delete(full, "ACMERA_TRUSTED_PROXIES")
	if c.OpsLogInterval != 0 {
		t.Fatalf("OpsLogInterval %v by default, want 0 (no counting)", c.OpsLogInterval)
	}
	full["ACMERA_FIRESTORE_OPS_LOG_INTERVAL"] = "2s"
	if c, err := ReadCloud(envOf(full)); err != nil || c.OpsLogInterval != 2*time.Second {
		t.Fatalf("ACMERA_FIRESTORE_OPS_LOG_INTERVAL=2s: %v %v", c.OpsLogInterval, err)
	}
	full["ACMERA_FIRESTORE_OPS_LOG_INTERVAL"] = "1ms"
	if _, err := ReadCloud(envOf(full)); err == nil || !strings.Contains(err.Error(), "ACMERA_FIRESTORE_OPS_LOG_INTERVAL") {
		t.Fatalf("ACMERA_FIRESTORE_OPS_LOG_INTERVAL=1ms: %v, want an error naming it", err)
	}
	delete(full, "ACMERA_FIRESTORE_OPS_LOG_INTERVAL")
	if c.Metrics != MetricsCloudMonitoring {
		t.Fatalf("ACMERA_METRICS defaults to %q, want %q", c.Metrics, MetricsCloudMonitoring)
	}
	full["ACMERA_METRICS"] = "off"
	if c, err := ReadCloud(envOf(full)); err != nil || c.Metrics != MetricsOff {
		t.Fatalf("ACMERA_METRICS=off: %q %v", c.Metrics, err)
	}
	full["ACMERA_METRICS"] = "prometheus"
	if _, err := ReadCloud(envOf(full)); err == nil || !strings.Contains(err.Error(), "ACMERA_METRICS") {
		t.Fatalf("ACMERA_METRICS=prometheus: %v, want an error naming it", err)
	}
	delete(full, "ACMERA_METRICS")
	for _, tc := range []struct {
		env  map[string]string
		want string // "" for accepted
	}{
		{map[string]string{"ACMERA_ADMIN_ALLOW": "ops@p.iam.gserviceaccount.com", "ACMERA_BASE_URL": "https://acme.example"}, ""},
		{map[string]string{"ACMERA_ADMIN_ALLOW": "ops@p.iam.gserviceaccount.com", "ACMERA_ADMIN_AUDIENCE": "https://acme.example"}, ""},
		{map[string]string{"ACMERA_ADMIN_ALLOW": "ops@p.iam.gserviceaccount.com"}, "ACMERA_ADMIN_AUDIENCE"},
		{map[string]string{"ACMERA_ADMIN_ALLOW": "not-an-email", "ACMERA_BASE_URL": "https://acme.example"}, "ACMERA_ADMIN_ALLOW"},
		{map[string]string{"ACMERA_ADMIN_IAP_AUDIENCE": "/projects/123/global/backendServices/456"}, ""},
		{map[string]string{"ACMERA_ADMIN_IAP_AUDIENCE": "https://acme.example"}, "ACMERA_ADMIN_IAP_AUDIENCE"},
	} {
		env := map[string]string{}
		for k, v := range full {
			env[k] = v
		}
		for k, v := range tc.env {
			env[k] = v
		}
		_, err := ReadCloud(envOf(env))
		if (tc.want == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tc.want)) {
			t.Errorf("admin settings %v: %v, want an error naming %q", tc.env, err, tc.want)
		}
	}
	for _, name := range []string{"GOOGLE_CLOUD_PROJECT", "ACMERA_CAS_POOL", "ACMERA_TASKS_QUEUE", "ACMERA_TASKS_SERVICE_ACCOUNT", "ACMERA_VALIDATOR_URL", "ACMERA_NONCE_KEY"} {
		t.Run("missing "+name, func(t *testing.T) {
			env := map[string]string{}
			for k, v := range full {
				env[k] = v
			}
			delete(env, name)
			if _, err := ReadCloud(envOf(env)); err == nil || !strings.Contains(err.Error(), name) {
				t.Fatalf("error %v does not name %s", err, name)
			}
		})
	}
	t.Run("validator needs no nonce key", func(t *testing.T) {
		env := map[string]string{"FUNCTION_TARGET": "Validate"}
		for k, v := range full {
			env[k] = v
		}
		delete(env, "ACMERA_NONCE_KEY")
		if _, err := ReadCloud(envOf(env)); err != nil {
			t.Fatalf("validator without nonce key: %v", err)
		}
	})
	t.Run("validation networks", func(t *testing.T) {
		env := map[string]string{"ACMERA_VALIDATION_NETWORKS": "127.0.0.0/8"}
		for k, v := range full {
			env[k] = v
		}
		c, err := ReadCloud(envOf(env))
		if err != nil || fmt.Sprint(c.ValidationNetworks) != "[127.0.0.0/8]" {
			t.Fatalf("ReadCloud: %v, ValidationNetworks %v", err, c)
		}
		env["ACMERA_VALIDATION_NETWORKS"] = "127.0.0.0/8,nonsense"
		if _, err := ReadCloud(envOf(env)); err == nil || !strings.Contains(err.Error(), "ACMERA_VALIDATION_NETWORKS") {
			t.Fatalf("bad CIDR in cloud mode: %v", err)
		}
	})
	t.Run("no policy", func(t *testing.T) {
		env := map[string]string{}
		for k, v := range full {
			env[k] = v
		}
		delete(env, "ACMERA_PROFILES_JSON")
		if _, err := ReadCloud(envOf(env)); err == nil || !strings.Contains(err.Error(), "ACMERA_PROFILES") {
			t.Fatalf("cloud mode without policy: %v", err)
		}
	})
	t.Run("bad pool", func(t *testing.T) {
		env := map[string]string{}
		for k, v := range full {
			env[k] = v
		}
		env["ACMERA_CAS_POOL"] = "pool-x"
		if _, err := ReadCloud(envOf(env)); err == nil || !strings.Contains(err.Error(), "ACMERA_CAS_POOL") {
			t.Fatalf("bad pool: %v", err)
		}
	})
}

// A profile setting over its limit stops the start with an error naming
// the variable, the profile and the setting.
func TestProfileLimitNamed(t *testing.T) {
	_, err := ReadEmbedded(envOf(map[string]string{"ACMERA_PROFILES_JSON": `{"profiles":{"acme":{"allowAnyName":true},"big":{"allowAnyName":true,"maxIdentifiers":101}}}`}))
	if err == nil || !strings.Contains(err.Error(), `ACMERA_PROFILES_JSON: policy: profile "big": maxIdentifiers 101 exceeds`) {
		t.Fatalf("got %v", err)
	}
}

func TestAdminAddrLoopbackOnly(t *testing.T) {
	for _, ok := range []string{"127.0.0.1:9443", "[::1]:0", "localhost:8080", "127.0.0.2:1"} {
		if c, err := ReadEmbedded(envOf(map[string]string{"ACMERA_ADMIN_ADDR": ok})); err != nil || c.AdminAddr != ok {
			t.Errorf("ACMERA_ADMIN_ADDR=%s: %v", ok, err)
		}
	}
	for _, bad := range []string{"0.0.0.0:9443", ":9443", "192.0.2.1:80", "[::]:1", "example.com:80", "127.0.0.1"} {
		_, err := ReadEmbedded(envOf(map[string]string{"ACMERA_ADMIN_ADDR": bad}))
		if err == nil || !strings.Contains(err.Error(), "ACMERA_ADMIN_ADDR") {
			t.Errorf("ACMERA_ADMIN_ADDR=%s: %v, want a refusal naming the setting", bad, err)
		}
	}
	if c, err := ReadEmbedded(envOf(nil)); err != nil || c.AdminAddr != "" {
		t.Errorf("default AdminAddr %q, %v; want none", c.AdminAddr, err)
	}
}
