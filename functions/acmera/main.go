// Command acmera is the one binary of acmera. With FUNCTION_TARGET=ACME or
// FUNCTION_TARGET=Validate it serves that function on $PORT, as Cloud Run
// runs it (the functions framework's conventions, on an http.Server of its
// own so that SIGTERM drains the requests in flight). With no FUNCTION_TARGET it runs
// the embedded default: the whole RA in one process over HTTPS, on an
// embedded store, an in-process queue and a local CA.
//
// Commands: `acmera eab create|list|revoke` manage external account
// binding keys on the store of the same environment (eab.go), `acmera
// admin certs|revoke|accounts|deactivate|stuck` are the operator's view
// (admincmd.go, and the admin page of adminpage.go), and
// `acmera help` lists the commands and modes.
package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "acmera:", err)
		os.Exit(1)
	}
}

// run runs the command of args, or with none serves in the mode the
// environment picks.
func run(ctx context.Context, args []string, env func(string) string, stdout, stderr io.Writer) error {
	switch {
	case len(args) == 0:
	case isHelp(args[0]):
		_, err := io.WriteString(stdout, usage)
		return err
	case args[0] == "version" || args[0] == "--version":
		_, err := io.WriteString(stdout, versionString())
		return err
	case args[0] == "eab":
		return runEAB(ctx, args[1:], env, stdout)
	case args[0] == "admin":
		return runAdmin(ctx, args[1:], env, stdout, stderr)
	default:
		return fmt.Errorf("unknown command %q; run acmera help", args[0])
	}
	switch target := env("FUNCTION_TARGET"); target {
	case "":
		if env("ACMERA_CAS_POOL") != "" || env("ACMERA_TASKS_QUEUE") != "" {
			return fmt.Errorf("cloud settings (ACMERA_CAS_POOL, ACMERA_TASKS_QUEUE) are set but FUNCTION_TARGET is not: set FUNCTION_TARGET=ACME or FUNCTION_TARGET=Validate")
		}
		return runEmbedded(ctx, env, stdout, stderr)
	case "ACME", "Validate":
		return runFunction(ctx, target, env, stderr)
	default:
		return fmt.Errorf("FUNCTION_TARGET=%q: must be ACME or Validate (or unset for the embedded default)", target)
	}
}

func logLevel(s string) slog.Level {
	switch s {
	case "debug":
		return slog.LevelDebug
	case "warn":
		return slog.LevelWarn
	case "error":
		return slog.LevelError
	}
	return slog.LevelInfo
}
