package e2e

import (
	"context"
	"fmt"
	"os"
	"testing"

	"github.com/acmera/acmera/scripts/internal/e2eutil"
)

// acmeraBin is the acmera binary every test runs, set once by TestMain.
// It is written only before any test starts.
var acmeraBin string

func TestMain(m *testing.M) {
	os.Exit(runMain(m))
}

// runMain builds the binary (unless ACMERA_E2E_BIN names one), runs the
// tests and removes the build directory.
func runMain(m *testing.M) int {
	if acmeraBin = os.Getenv("ACMERA_E2E_BIN"); acmeraBin != "" {
		return m.Run()
	}
	dir, err := os.MkdirTemp("", "acmera-e2e-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e: os.MkdirTemp:", err)
		return 1
	}
	defer os.RemoveAll(dir)
	if acmeraBin, err = e2eutil.Build(context.Background(), dir, e2eutil.AcmeraPkg); err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		return 1
	}
	return m.Run()
}
