package main

import (
	"context"
	"fmt"
	"io"
)

// runFunction serves FUNCTION_TARGET on $PORT with its cloud backends.
func runFunction(ctx context.Context, target string, env func(string) string, stderr io.Writer) error {
	return fmt.Errorf("FUNCTION_TARGET=%s: cloud backends are not wired yet", target)
}
