package e2ecloud

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/acmera/acmera/scripts/internal/e2eutil"
)

// Set once by TestMain before any test runs, read-only afterwards.
var (
	acmeraBin   string // the acmera binary (functions/acmera)
	fakegcpBin  string // the fakegcp binary (scripts/fakegcp)
	emulator    string // FIRESTORE_EMULATOR_HOST of the Firestore emulator
	emulatorErr error  // why no emulator is available
)

// emulatorTimeout bounds each start and stop of the Firestore emulator.
const emulatorTimeout = 60 * time.Second

func TestMain(m *testing.M) {
	os.Exit(runMain(m))
}

// runMain builds the binaries (unless given), finds or starts the
// Firestore emulator, runs the tests and cleans up.
func runMain(m *testing.M) int {
	dir, err := os.MkdirTemp("", "acmera-e2ecloud-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2ecloud: os.MkdirTemp:", err)
		return 1
	}
	defer os.RemoveAll(dir)
	for _, b := range []struct {
		dst *string
		env string
		pkg string
	}{
		{&acmeraBin, "ACMERA_E2E_BIN", e2eutil.AcmeraPkg},
		{&fakegcpBin, "ACMERA_FAKEGCP_BIN", "github.com/acmera/acmera/scripts/fakegcp"},
	} {
		if *b.dst = os.Getenv(b.env); *b.dst != "" {
			continue
		}
		if *b.dst, err = e2eutil.Build(context.Background(), dir, b.pkg); err != nil {
			fmt.Fprintln(os.Stderr, "e2ecloud:", err)
			return 1
		}
	}
	stop := findEmulator(filepath.Join(dir, "emulator"))
	defer stop()
	return m.Run()
}

// findEmulator sets emulator from FIRESTORE_EMULATOR_HOST, or starts one
// with scripts/firestore-emulator.sh (state in stateDir) and returns its
// stop function. On failure it sets emulatorErr.
func findEmulator(stateDir string) (stop func()) {
	if h := os.Getenv("FIRESTORE_EMULATOR_HOST"); h != "" {
		emulator = h
		return func() {}
	}
	script, err := filepath.Abs(filepath.Join("..", "firestore-emulator.sh"))
	if err != nil {
		emulatorErr = fmt.Errorf("filepath.Abs: %w", err)
		return func() {}
	}
	run := func(arg string) ([]byte, error) {
		ctx, cancel := context.WithTimeout(context.Background(), emulatorTimeout)
		defer cancel()
		cmd := exec.CommandContext(ctx, script, arg)
		cmd.Env = append(os.Environ(), "FIRESTORE_STATE_DIR="+stateDir)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			return nil, fmt.Errorf("%s %s: %w: %s", script, arg, err, strings.TrimSpace(stderr.String()))
		}
		return out, nil
	}
	out, err := run("start")
	if err != nil {
		emulatorErr = err
		return func() {}
	}
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		if h, ok := strings.CutPrefix(strings.TrimSpace(sc.Text()), "export FIRESTORE_EMULATOR_HOST="); ok {
			emulator = h
		}
	}
	if emulator == "" {
		emulatorErr = fmt.Errorf("%s start printed no FIRESTORE_EMULATOR_HOST: %q", script, out)
	}
	return func() {
		if _, err := run("stop"); err != nil {
			fmt.Fprintln(os.Stderr, "e2ecloud:", err)
		}
	}
}

// needEmulator skips the test when no Firestore emulator is available,
// or fails it under CI=true.
func needEmulator(t *testing.T) {
	t.Helper()
	if emulator != "" {
		return
	}
	e2eutil.Missing(t, "no Firestore emulator (set FIRESTORE_EMULATOR_HOST or install google-cloud-cli-firestore-emulator and java): %v", emulatorErr)
}
