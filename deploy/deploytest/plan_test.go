package deploytest

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// tfValidate locates terraform and the offline tf-validate tool, or skips.
func tfValidate(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("runs terraform plans; skipped with -short")
	}
	if _, err := exec.LookPath("terraform"); err != nil {
		t.Skip("terraform not installed")
	}
	tool := os.Getenv("TF_VALIDATE")
	if tool == "" {
		tool = filepath.Join(repoRoot(t), "..", "shared", "tools", "tf-google-offline", "tf-validate")
	}
	if _, err := os.Stat(tool); err != nil {
		t.Skipf("tf-validate not found at %s (set TF_VALIDATE)", tool)
	}
	return tool
}

// tfEnv is the environment for terraform: no checkpoint calls, and no CLI
// config file that does not exist.
func tfEnv(extra ...string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "TF_CLI_CONFIG_FILE=") {
			if _, err := os.Stat(strings.TrimPrefix(kv, "TF_CLI_CONFIG_FILE=")); err != nil {
				continue
			}
		}
		env = append(env, kv)
	}
	return append(append(env, "CHECKPOINT_DISABLE=1"), extra...)
}

var keptDir = regexp.MustCompile(`(?m)^tf-validate: keeping (\S+)$`)

// tfPlan runs tf-validate (validate + plan against the offline google
// provider) on a directory relative to the repository root and returns the
// plan as `terraform show -json` prints it, or the combined output and an
// error when validation or planning fails.
func tfPlan(t *testing.T, dir string, vars ...string) (map[string]any, string, error) {
	t.Helper()
	tool := tfValidate(t)
	planFile := filepath.Join(t.TempDir(), "plan.tfplan")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	args := []string{filepath.Join(repoRoot(t), dir), "-out=" + planFile}
	for _, v := range vars {
		args = append(args, "-var", v)
	}
	cmd := exec.CommandContext(ctx, tool, args...)
	cmd.Env = tfEnv("TF_VALIDATE_KEEP=1")
	out, err := cmd.CombinedOutput()
	var work string
	if m := keptDir.FindSubmatch(out); m != nil {
		work = string(m[1])
		defer os.RemoveAll(work)
	}
	if err != nil {
		return nil, string(out), err
	}
	if work == "" {
		t.Fatalf("tf-validate did not report its work directory:\n%s", out)
	}
	var wd string
	_ = filepath.WalkDir(filepath.Join(work, "src"), func(p string, d os.DirEntry, err error) error {
		if err == nil && d.IsDir() && d.Name() == ".terraform" && wd == "" {
			wd = filepath.Dir(p)
			return filepath.SkipAll
		}
		return nil
	})
	show := exec.CommandContext(ctx, "terraform", "-chdir="+wd, "show", "-json", planFile)
	show.Env = tfEnv("TF_CLI_CONFIG_FILE="+filepath.Join(work, "cli.tfrc"), "TF_DATA_DIR="+filepath.Join(wd, ".terraform"))
	var stderr bytes.Buffer
	show.Stderr = &stderr
	js, err := show.Output()
	if err != nil {
		t.Fatalf("terraform show -json: %v\n%s", err, stderr.String())
	}
	var plan map[string]any
	if err := json.Unmarshal(js, &plan); err != nil {
		t.Fatalf("decode plan: %v", err)
	}
	return plan, string(out), nil
}

// created returns the planned values of resources to be created, by type.
func created(plan map[string]any, typ string) []map[string]any {
	var out []map[string]any
	rcs, _ := plan["resource_changes"].([]any)
	for _, rc := range rcs {
		r, _ := rc.(map[string]any)
		ch, _ := r["change"].(map[string]any)
		if r["type"] != typ || !slices1(ch["actions"], "create") {
			continue
		}
		after, _ := ch["after"].(map[string]any)
		out = append(out, after)
	}
	return out
}

func slices1(v any, want string) bool {
	a, _ := v.([]any)
	return len(a) == 1 && a[0] == want
}

// at walks a decoded JSON value along keys (string) and indices (int).
func at(v any, path ...any) any {
	for _, p := range path {
		switch k := p.(type) {
		case string:
			m, _ := v.(map[string]any)
			v = m[k]
		case int:
			a, _ := v.([]any)
			if k >= len(a) {
				return nil
			}
			v = a[k]
		}
	}
	return v
}

const (
	demoProject = "demo-project"
	demoPool    = "projects/demo-project/locations/us-central1/caPools/acmera-pool"
)
