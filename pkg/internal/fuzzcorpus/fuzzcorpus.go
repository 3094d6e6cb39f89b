// Package fuzzcorpus writes seed-corpus files for Go's native fuzzing
// (testdata/fuzz/FuzzXxx/NAME in the "go test fuzz v1" format), so that the
// seed generators of the fuzz tests share one encoder. Only tests use it.
package fuzzcorpus

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// Encode returns a corpus file holding vals, which must have the types of
// the fuzz function's arguments after *testing.T, in order.
func Encode(vals ...any) ([]byte, error) {
	var b strings.Builder
	b.WriteString("go test fuzz v1\n")
	for _, v := range vals {
		switch v := v.(type) {
		case []byte:
			fmt.Fprintf(&b, "[]byte(%q)\n", v)
		case string:
			fmt.Fprintf(&b, "string(%q)\n", v)
		case bool:
			fmt.Fprintf(&b, "bool(%t)\n", v)
		case uint8:
			fmt.Fprintf(&b, "byte(%q)\n", v)
		default:
			return nil, fmt.Errorf("fuzzcorpus: unsupported type %T", v)
		}
	}
	return []byte(b.String()), nil
}

// Write writes the corpus file testdata/fuzz/<target>/<name>, relative to
// the current directory (a test's package directory).
func Write(target, name string, vals ...any) error {
	data, err := Encode(vals...)
	if err != nil {
		return err
	}
	dir := filepath.Join("testdata", "fuzz", target)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("os.MkdirAll: %w", err)
	}
	if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
		return fmt.Errorf("os.WriteFile: %w", err)
	}
	return nil
}
