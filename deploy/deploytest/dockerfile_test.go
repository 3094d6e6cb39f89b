package deploytest

import (
	"fmt"
	"path"
	"regexp"
	"strings"
	"testing"
)

// dockerInstr is one Dockerfile instruction with its arguments (line
// continuations joined, comments dropped).
type dockerInstr struct {
	Cmd, Args string
}

func parseDockerfile(src string) []dockerInstr {
	var out []dockerInstr
	var cur strings.Builder
	for _, line := range strings.Split(src, "\n") {
		trimmed := strings.TrimSpace(line)
		if strings.HasPrefix(trimmed, "#") || (trimmed == "" && cur.Len() == 0) {
			continue
		}
		if strings.HasSuffix(trimmed, "\\") {
			cur.WriteString(strings.TrimSuffix(trimmed, "\\") + " ")
			continue
		}
		cur.WriteString(trimmed)
		full := cur.String()
		cur.Reset()
		if full == "" {
			continue
		}
		cmd, args, _ := strings.Cut(full, " ")
		out = append(out, dockerInstr{Cmd: strings.ToUpper(cmd), Args: strings.TrimSpace(args)})
	}
	return out
}

var (
	pinnedImage  = regexp.MustCompile(`^[a-z0-9./-]+(:[A-Za-z0-9_.-]+)?(@sha256:[a-f0-9]{64})?$`)
	secretish    = regexp.MustCompile(`(?i)(secret|passw|token|api_?key|private_?key|credential)`)
	execFormPath = regexp.MustCompile(`^\["(/[^"]+)"`)
)

// lintDockerfile returns the rule violations of a Dockerfile: every base image
// pinned by tag (not latest) or digest; the final stage distroless static
// nonroot and run as nonroot; a CGO-free, trimmed go build; an exec-form
// ENTRYPOINT running the copied binary; no secret-looking ENV/ARG; no ADD of
// remote URLs. exists reports whether a COPY source is in the build context.
func lintDockerfile(src string, exists func(string) bool) []string {
	var errs []string
	fail := func(f string, a ...any) { errs = append(errs, fmt.Sprintf(f, a...)) }
	ins := parseDockerfile(src)
	var froms []string
	var user, entry, copiedTo string
	var build string
	for _, in := range ins {
		switch in.Cmd {
		case "FROM":
			img := strings.Fields(in.Args)[0]
			froms, user = append(froms, img), ""
			if !pinnedImage.MatchString(img) || !strings.ContainsAny(img, ":@") || strings.HasSuffix(img, ":latest") {
				fail("FROM %s: pin the image by tag or digest", img)
			}
		case "USER":
			user = strings.Split(in.Args, ":")[0]
		case "ENV", "ARG":
			if secretish.MatchString(strings.Split(in.Args, "=")[0]) {
				fail("%s %s: no secrets in the image", in.Cmd, in.Args)
			}
		case "ADD":
			if strings.Contains(in.Args, "://") {
				fail("ADD %s: no remote sources", in.Args)
			}
		case "COPY":
			f := strings.Fields(in.Args)
			if strings.HasPrefix(f[0], "--from=") {
				copiedTo = f[len(f)-1]
				continue
			}
			for _, s := range f[:len(f)-1] {
				if !strings.HasPrefix(s, "--") && !exists(path.Clean(s)) {
					fail("COPY %s: not in the repository", s)
				}
			}
		case "RUN":
			if strings.Contains(in.Args, "go build") {
				build = in.Args
			}
		case "ENTRYPOINT":
			entry = in.Args
		}
	}
	if len(froms) < 2 {
		fail("want a multi-stage build, got %d stage(s)", len(froms))
	} else if final := froms[len(froms)-1]; !strings.HasPrefix(final, "gcr.io/distroless/static-debian12:nonroot") &&
		!strings.HasPrefix(final, "gcr.io/distroless/static-debian12@sha256:") {
		fail("final stage %s: want gcr.io/distroless/static-debian12:nonroot", final)
	}
	if user != "nonroot" && user != "65532" {
		fail("final stage USER %q: want nonroot", user)
	}
	if !strings.Contains(build, "CGO_ENABLED=0") || !strings.Contains(build, "-trimpath") {
		fail("go build %q: want CGO_ENABLED=0 and -trimpath", build)
	}
	if m := execFormPath.FindStringSubmatch(entry); m == nil || m[1] != copiedTo {
		fail("ENTRYPOINT %q: want exec form running the copied binary %q", entry, copiedTo)
	}
	return errs
}

func TestDockerfile(t *testing.T) {
	src := readRepoFile(t, "deploy/Dockerfile")
	for _, e := range lintDockerfile(src, func(p string) bool { return exists(t, p) }) {
		t.Error(e)
	}
	// The build target is the one binary both services run.
	m := regexp.MustCompile(`go build .* (\./[^\s]+)`).FindStringSubmatch(src)
	if m == nil || m[1] != "./functions/acmera" {
		t.Errorf("go build target %v: want ./functions/acmera", m)
	}
	if !strings.Contains(src, "FROM golang:1.26") {
		t.Error("builder stage: want golang:1.26")
	}
}

// TestLintDockerfileRejects proves each lint rule fires.
func TestLintDockerfileRejects(t *testing.T) {
	good := "FROM golang:1.26 AS build\nCOPY go.mod ./\nRUN CGO_ENABLED=0 go build -trimpath -o /out/a ./x\n" +
		"FROM gcr.io/distroless/static-debian12:nonroot\nCOPY --from=build /out/a /a\nUSER nonroot:nonroot\nENTRYPOINT [\"/a\"]\n"
	inRepo := func(p string) bool { return p == "go.mod" }
	if errs := lintDockerfile(good, inRepo); len(errs) != 0 {
		t.Fatalf("good Dockerfile rejected: %v", errs)
	}
	tests := []struct {
		name, from, to, want string
	}{
		{"latest tag", "FROM golang:1.26 AS build", "FROM golang:latest AS build", "pin the image"},
		{"untagged", "FROM golang:1.26 AS build", "FROM golang AS build", "pin the image"},
		{"root user", "USER nonroot:nonroot", "USER root", "want nonroot"},
		{"no user", "USER nonroot:nonroot\n", "", "want nonroot"},
		{"cgo", "CGO_ENABLED=0 ", "", "CGO_ENABLED=0"},
		{"no trimpath", "-trimpath ", "", "-trimpath"},
		{"shell entrypoint", `ENTRYPOINT ["/a"]`, "ENTRYPOINT /a", "exec form"},
		{"wrong binary", `ENTRYPOINT ["/a"]`, `ENTRYPOINT ["/b"]`, "exec form"},
		{"secret env", "USER nonroot", "ENV DB_PASSWORD=x\nUSER nonroot", "no secrets"},
		{"secret arg", "USER nonroot", "ARG GITHUB_TOKEN\nUSER nonroot", "no secrets"},
		{"remote add", "USER nonroot", "ADD https://example.com/x /x\nUSER nonroot", "no remote"},
		{"missing copy source", "COPY go.mod ./", "COPY go.work ./", "not in the repository"},
		{"single stage", "FROM golang:1.26 AS build\n", "", "multi-stage"},
		{"fat base", "gcr.io/distroless/static-debian12:nonroot", "debian:12", "want gcr.io/distroless"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			bad := strings.Replace(good, tc.from, tc.to, 1)
			if bad == good {
				t.Fatalf("replacement %q not applied", tc.from)
			}
			errs := lintDockerfile(bad, inRepo)
			if !strings.Contains(strings.Join(errs, "\n"), tc.want) {
				t.Errorf("errors %v: want one containing %q", errs, tc.want)
			}
		})
	}
}

// TestDockerignoreKeepsCopySources checks the Dockerfile-specific ignore file
// re-includes what the Dockerfile copies (BuildKit: <Dockerfile>.dockerignore).
func TestDockerignoreKeepsCopySources(t *testing.T) {
	ignore := readRepoFile(t, "deploy/Dockerfile.dockerignore")
	for _, in := range parseDockerfile(readRepoFile(t, "deploy/Dockerfile")) {
		if in.Cmd != "COPY" || strings.HasPrefix(in.Args, "--from") {
			continue
		}
		f := strings.Fields(in.Args)
		for _, s := range f[:len(f)-1] {
			if !strings.Contains(ignore, "\n!"+s+"\n") {
				t.Errorf("COPY source %s is not re-included by Dockerfile.dockerignore", s)
			}
		}
	}
}
