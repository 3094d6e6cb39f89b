package deploytest

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// unitFile parses a systemd unit into section -> key -> values.
func unitFile(src string) map[string]map[string][]string {
	out := map[string]map[string][]string{}
	section := ""
	for _, line := range strings.Split(src, "\n") {
		line = strings.TrimSpace(line)
		switch {
		case line == "" || strings.HasPrefix(line, "#") || strings.HasPrefix(line, ";"):
		case strings.HasPrefix(line, "[") && strings.HasSuffix(line, "]"):
			section = strings.Trim(line, "[]")
			out[section] = map[string][]string{}
		case section != "":
			if k, v, ok := strings.Cut(line, "="); ok {
				out[section][k] = append(out[section][k], v)
			}
		}
	}
	return out
}

// TestCertbotRecipe checks the certbot pieces fit together: 8-hour renewal
// window, an hourly timer that starts the renewal service, a deploy hook
// that exists, is executable, parses, and reloads a service.
func TestCertbotRecipe(t *testing.T) {
	if !regexp.MustCompile(`(?m)^renew_before_expiry = 8 hours$`).MatchString(readRepoFile(t, "deploy/certbot/renewal-params.conf")) {
		t.Error("renewal-params.conf: want renew_before_expiry = 8 hours")
	}
	if !strings.Contains(readRepoFile(t, "deploy/certbot/acmera-issue.sh"), "renew_before_expiry = 8 hours") {
		t.Error("acmera-issue.sh does not set renew_before_expiry = 8 hours")
	}
	cli := readRepoFile(t, "deploy/certbot/cli.ini")
	if !regexp.MustCompile(`(?m)^server = https://\S+/acme/acme/directory$`).MatchString(cli) {
		t.Error("cli.ini: want server = the directory URL")
	}
	timer := unitFile(readRepoFile(t, "deploy/certbot/acmera-certbot.timer"))
	svcName := "acmera-certbot.service"
	if got := timer["Timer"]["Unit"]; len(got) != 1 || got[0] != svcName {
		t.Errorf("timer Unit=%v, want %s", got, svcName)
	}
	if got := timer["Timer"]["OnCalendar"]; len(got) != 1 || got[0] != "hourly" {
		t.Errorf("timer OnCalendar=%v: 24-hour certificates renewed at 8 hours left need an hourly check", got)
	}
	if got := timer["Install"]["WantedBy"]; len(got) != 1 || got[0] != "timers.target" {
		t.Errorf("timer WantedBy=%v", got)
	}
	svc := unitFile(readRepoFile(t, "deploy/certbot/"+svcName))
	exec0 := strings.Join(svc["Service"]["ExecStart"], " ")
	if svc["Service"]["Type"][0] != "oneshot" || !strings.Contains(exec0, "certbot renew") {
		t.Errorf("service: want Type=oneshot running certbot renew, got %q", exec0)
	}
	m := regexp.MustCompile(`--deploy-hook (\S+)`).FindStringSubmatch(exec0)
	if m == nil {
		t.Fatal("service: no --deploy-hook")
	}
	hook := "deploy/certbot/" + filepath.Base(m[1])
	if !strings.Contains(readRepoFile(t, "deploy/certbot/acmera-issue.sh"), m[1]) {
		t.Errorf("acmera-issue.sh does not install the same deploy hook %s", m[1])
	}
	st, err := os.Stat(filepath.Join(repoRoot(t), hook))
	if err != nil {
		t.Fatalf("deploy hook %s: %v", hook, err)
	}
	if st.Mode()&0o111 == 0 {
		t.Errorf("%s is not executable", hook)
	}
	if !strings.Contains(readRepoFile(t, hook), "systemctl reload") {
		t.Errorf("%s does not reload a service", hook)
	}
	for _, script := range []string{hook, "deploy/certbot/acmera-issue.sh"} {
		shell := "sh"
		if strings.HasPrefix(readRepoFile(t, script), "#!/usr/bin/env bash") {
			shell = "bash"
		}
		if _, err := exec.LookPath(shell); err != nil {
			t.Logf("%s not installed: syntax of %s not checked", shell, script)
			continue
		}
		if out, err := exec.Command(shell, "-n", filepath.Join(repoRoot(t), script)).CombinedOutput(); err != nil {
			t.Errorf("%s -n %s: %v\n%s", shell, script, err, out)
		}
	}
}

// TestCaddySnippet checks the global options block points Caddy at acmera.
func TestCaddySnippet(t *testing.T) {
	src := readRepoFile(t, "deploy/caddy/Caddyfile")
	start := strings.Index(src, "\n{\n")
	end := strings.Index(src, "\n}\n")
	if start < 0 || end < start {
		t.Fatal("no global options block")
	}
	global := src[start:end]
	if !regexp.MustCompile(`(?m)^\s*acme_ca https://\S+/acme/acme/directory$`).MatchString(global) {
		t.Error("global options: want acme_ca <directory URL>")
	}
	if !regexp.MustCompile(`(?m)^\s*acme_ca_root /\S+\.pem$`).MatchString(global) {
		t.Error("global options: want acme_ca_root <PEM file>")
	}
}
