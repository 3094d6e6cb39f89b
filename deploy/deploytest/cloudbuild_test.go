package deploytest

import (
	"regexp"
	"slices"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// cloudBuild is the part of the Cloud Build config schema cloudbuild.yaml uses.
type cloudBuild struct {
	Substitutions map[string]string `yaml:"substitutions"`
	Steps         []struct {
		ID         string   `yaml:"id"`
		Name       string   `yaml:"name"`
		Entrypoint string   `yaml:"entrypoint"`
		Args       []string `yaml:"args"`
		Env        []string `yaml:"env"`
		WaitFor    []string `yaml:"waitFor"`
	} `yaml:"steps"`
	Options struct {
		Logging string `yaml:"logging"`
	} `yaml:"options"`
	Timeout string `yaml:"timeout"`
}

var (
	// $VAR or ${VAR}, not $$ (an escaped dollar for the shell).
	substRef = regexp.MustCompile(`(^|[^$])\$\{?([A-Z_][A-Z0-9_]*)\}?`)
	repoPath = regexp.MustCompile(`(?:^|[\s"'=])\.?/?((?:deploy|terraform|scripts|functions|pkg)/[A-Za-z0-9_./-]*[A-Za-z0-9_])`)
	builtins = []string{"PROJECT_ID", "PROJECT_NUMBER", "BUILD_ID", "LOCATION", "COMMIT_SHA", "SHORT_SHA", "REVISION_ID", "BRANCH_NAME", "TAG_NAME", "REPO_NAME", "REPO_FULL_NAME", "TRIGGER_NAME", "SERVICE_ACCOUNT_EMAIL", "SERVICE_ACCOUNT"}
)

// TestCloudBuild checks cloudbuild.yaml parses with known keys, its steps are
// wired (ids unique, waitFor known), every substitution it uses is defined or
// built in and every defined one is used, the paths it names exist, and the
// build sets the Marketplace image annotation.
func TestCloudBuild(t *testing.T) {
	src := readRepoFile(t, "cloudbuild.yaml")
	dec := yaml.NewDecoder(strings.NewReader(src))
	dec.KnownFields(true)
	var cb cloudBuild
	if err := dec.Decode(&cb); err != nil {
		t.Fatalf("cloudbuild.yaml: %v", err)
	}
	ids := map[string]bool{}
	var all []string
	for i, s := range cb.Steps {
		if s.Name == "" {
			t.Errorf("step %d has no builder image", i)
		}
		if s.ID != "" && ids[s.ID] {
			t.Errorf("duplicate step id %s", s.ID)
		}
		for _, w := range s.WaitFor {
			if w != "-" && !ids[w] {
				t.Errorf("step %s waits for %s, which is not an earlier step", s.ID, w)
			}
		}
		ids[s.ID] = true
		all = append(all, s.Name, s.Entrypoint)
		all = append(append(all, s.Args...), s.Env...)
	}
	text := strings.Join(all, "\n")
	used := map[string]bool{}
	for _, m := range substRef.FindAllStringSubmatch(text, -1) {
		name := m[2]
		used[name] = true
		if _, ok := cb.Substitutions[name]; !ok && !slices.Contains(builtins, name) {
			t.Errorf("substitution %s is used but neither defined nor built in", name)
		}
	}
	for name := range cb.Substitutions {
		if !strings.HasPrefix(name, "_") {
			t.Errorf("user substitution %s must start with _", name)
		}
		if !used[name] {
			t.Errorf("substitution %s is defined but unused", name)
		}
	}
	for _, m := range repoPath.FindAllStringSubmatch(text, -1) {
		if !exists(t, m[1]) {
			t.Errorf("cloudbuild.yaml names %s, which does not exist", m[1])
		}
	}
	for _, want := range []string{
		"deploy/Dockerfile", "go test", "--push", "docker.pkg.dev",
		"manifest:com.googleapis.cloudmarketplace.product.service.name=services/",
		"${_ACME_SERVICE}", "${_VALIDATOR_SERVICE}", "${_REGION}", "${_REPO}",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("cloudbuild.yaml steps lack %q", want)
		}
	}
}

func TestSubstRef(t *testing.T) {
	tests := []struct {
		in   string
		want []string
	}{
		{"${_REGION}-docker", []string{"_REGION"}},
		{"$PROJECT_ID/x", []string{"PROJECT_ID"}},
		{"$$(cat f)", nil},
		{"a $$HOME b ${_X}", []string{"_X"}},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			var got []string
			for _, m := range substRef.FindAllStringSubmatch(tc.in, -1) {
				got = append(got, m[2])
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("got %v, want %v", got, tc.want)
			}
		})
	}
}
