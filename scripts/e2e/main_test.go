package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// acmeraBin is the acmera binary every test runs, set once by TestMain.
// It is written only before any test starts.
var acmeraBin string

// buildTimeout bounds the one `go build` of the binary.
const buildTimeout = 5 * time.Minute

func TestMain(m *testing.M) {
	os.Exit(runMain(m))
}

// runMain builds the binary (unless ACMERA_E2E_BIN names one), runs the
// tests and removes the build directory.
func runMain(m *testing.M) int {
	if bin := os.Getenv("ACMERA_E2E_BIN"); bin != "" {
		acmeraBin = bin
		return m.Run()
	}
	dir, err := os.MkdirTemp("", "acmera-e2e-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e: os.MkdirTemp:", err)
		return 1
	}
	defer os.RemoveAll(dir)
	acmeraBin = filepath.Join(dir, "acmera")
	ctx, cancel := context.WithTimeout(context.Background(), buildTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "go", "build", "-o", acmeraBin, "github.com/acmera/acmera/functions/acmera")
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "e2e: go build ./functions/acmera:", err)
		return 1
	}
	return m.Run()
}
