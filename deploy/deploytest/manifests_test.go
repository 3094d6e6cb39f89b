package deploytest

import (
	"encoding/base64"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// crdSchemas loads the openAPIV3Schema of each cert-manager CRD kind from the
// cert-manager module in the Go module cache, or skips.
func crdSchemas(t *testing.T) map[string]map[string]any {
	t.Helper()
	out, err := exec.Command("go", "env", "GOMODCACHE").Output()
	if err != nil {
		t.Skipf("go env GOMODCACHE: %v", err)
	}
	dirs, _ := filepath.Glob(filepath.Join(strings.TrimSpace(string(out)), "github.com", "cert-manager", "cert-manager@v*", "deploy", "crds"))
	if len(dirs) == 0 {
		t.Skip("cert-manager module (with its CRDs) is not in the module cache")
	}
	sort.Strings(dirs)
	files, _ := filepath.Glob(filepath.Join(dirs[len(dirs)-1], "*.yaml"))
	schemas := map[string]map[string]any{}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatalf("os.ReadFile: %v", err)
		}
		var crd map[string]any
		if err := yaml.Unmarshal(b, &crd); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		kind, _ := at(crd, "spec", "names", "kind").(string)
		versions, _ := at(crd, "spec", "versions").([]any)
		for _, v := range versions {
			if at(v, "name") == "v1" {
				s, _ := at(v, "schema", "openAPIV3Schema").(map[string]any)
				schemas[kind] = s
			}
		}
	}
	return schemas
}

// checkSchema validates v against a structural OpenAPI v3 schema (the subset
// CRDs use): types, properties, required, enums, items, additionalProperties.
// Unknown fields are errors unless the schema preserves them.
func checkSchema(path string, v any, s map[string]any) []string {
	if s == nil {
		return nil
	}
	var errs []string
	if e, ok := s["enum"].([]any); ok && !slices.Contains(e, v) {
		errs = append(errs, fmt.Sprintf("%s: %v not in %v", path, v, e))
	}
	switch s["type"] {
	case "object":
		m, ok := v.(map[string]any)
		if !ok {
			return append(errs, fmt.Sprintf("%s: want an object, got %T", path, v))
		}
		props, _ := s["properties"].(map[string]any)
		for k, sub := range m {
			ps, known := props[k].(map[string]any)
			switch {
			case known:
				errs = append(errs, checkSchema(path+"."+k, sub, ps)...)
			case s["additionalProperties"] != nil:
				ap, _ := s["additionalProperties"].(map[string]any)
				errs = append(errs, checkSchema(path+"."+k, sub, ap)...)
			case s["x-kubernetes-preserve-unknown-fields"] == true:
			default:
				errs = append(errs, fmt.Sprintf("%s: unknown field %q", path, k))
			}
		}
		req, _ := s["required"].([]any)
		for _, r := range req {
			if _, ok := m[r.(string)]; !ok {
				errs = append(errs, fmt.Sprintf("%s: missing required %q", path, r))
			}
		}
	case "array":
		a, ok := v.([]any)
		if !ok {
			return append(errs, fmt.Sprintf("%s: want an array, got %T", path, v))
		}
		items, _ := s["items"].(map[string]any)
		for i, it := range a {
			errs = append(errs, checkSchema(fmt.Sprintf("%s[%d]", path, i), it, items)...)
		}
	case "string":
		if _, ok := v.(string); !ok && s["x-kubernetes-int-or-string"] != true {
			errs = append(errs, fmt.Sprintf("%s: want a string, got %T", path, v))
		}
	case "integer":
		if _, ok := v.(int); !ok {
			errs = append(errs, fmt.Sprintf("%s: want an integer, got %T", path, v))
		}
	case "boolean":
		if _, ok := v.(bool); !ok {
			errs = append(errs, fmt.Sprintf("%s: want a boolean, got %T", path, v))
		}
	}
	return errs
}

func loadManifest(t *testing.T, rel string) map[string]any {
	t.Helper()
	var m map[string]any
	if err := yaml.Unmarshal([]byte(readRepoFile(t, rel)), &m); err != nil {
		t.Fatalf("%s: %v", rel, err)
	}
	return m
}

// TestCertManagerManifests validates the manifests against cert-manager's own
// CRD schemas and checks the acmera-specific wiring.
func TestCertManagerManifests(t *testing.T) {
	issuer := loadManifest(t, "deploy/cert-manager/clusterissuer.yaml")
	cert := loadManifest(t, "deploy/cert-manager/certificate.yaml")
	t.Run("wiring", func(t *testing.T) {
		server, _ := at(issuer, "spec", "acme", "server").(string)
		if !strings.HasPrefix(server, "https://") || !strings.HasSuffix(server, "/acme/acme/directory") {
			t.Errorf("server %q: want the module's directory_url", server)
		}
		bundle, _ := at(issuer, "spec", "acme", "caBundle").(string)
		pem, err := base64.StdEncoding.DecodeString(bundle)
		if err != nil || !strings.HasPrefix(string(pem), "-----BEGIN CERTIFICATE-----") {
			t.Errorf("caBundle: want base64 of a PEM certificate (err %v)", err)
		}
		if at(issuer, "spec", "acme", "solvers", 0, "dns01", "cloudDNS") == nil {
			t.Error("first solver: want dns01 via Cloud DNS")
		}
		if at(issuer, "spec", "acme", "solvers", 1, "http01") == nil {
			t.Error("second solver: want http01")
		}
		if at(cert, "spec", "issuerRef", "name") != at(issuer, "metadata", "name") || at(cert, "spec", "issuerRef", "kind") != issuer["kind"] {
			t.Error("Certificate issuerRef does not name the ClusterIssuer")
		}
		if at(cert, "spec", "duration") != "24h" || at(cert, "spec", "renewBefore") != "8h" {
			t.Error("Certificate: want duration 24h and renewBefore 8h")
		}
	})
	schemas := crdSchemas(t)
	for _, m := range []map[string]any{issuer, cert} {
		kind, _ := m["kind"].(string)
		t.Run(kind, func(t *testing.T) {
			if m["apiVersion"] != "cert-manager.io/v1" {
				t.Errorf("apiVersion %v", m["apiVersion"])
			}
			s, ok := schemas[kind]
			if !ok {
				t.Fatalf("no CRD schema for %s", kind)
			}
			spec := map[string]any{"spec": m["spec"]}
			for _, e := range checkSchema(kind, spec, map[string]any{"type": "object",
				"properties": map[string]any{"spec": at(s, "properties", "spec")}}) {
				t.Error(e)
			}
		})
	}
}

// TestCheckSchemaRejects proves the validator reports what it should.
func TestCheckSchemaRejects(t *testing.T) {
	s := map[string]any{"type": "object", "required": []any{"a"}, "properties": map[string]any{
		"a": map[string]any{"type": "string", "enum": []any{"x", "y"}},
		"b": map[string]any{"type": "array", "items": map[string]any{"type": "integer"}},
	}}
	tests := []struct {
		name string
		v    map[string]any
		want string
	}{
		{"unknown field", map[string]any{"a": "x", "c": 1}, `unknown field "c"`},
		{"missing required", map[string]any{"b": []any{1}}, `missing required "a"`},
		{"enum", map[string]any{"a": "z"}, "not in"},
		{"item type", map[string]any{"a": "x", "b": []any{"s"}}, "want an integer"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if errs := checkSchema("o", tc.v, s); !strings.Contains(strings.Join(errs, "\n"), tc.want) {
				t.Errorf("errors %v: want %q", errs, tc.want)
			}
		})
	}
	if errs := checkSchema("o", map[string]any{"a": "y", "b": []any{1, 2}}, s); len(errs) != 0 {
		t.Errorf("valid object rejected: %v", errs)
	}
}
