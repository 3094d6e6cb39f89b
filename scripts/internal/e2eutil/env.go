package e2eutil

import (
	"os"
	"strings"
)

// Loopback is the listen address of every responder: a free port on
// 127.0.0.1.
const Loopback = "127.0.0.1:0"

// Environ is this process's environment for a child process, then extra.
// It leaves out every acmera, functions-framework and Google setting
// (ACMERA_*, FUNCTION_TARGET, PORT, GOOGLE_*, FIRESTORE_EMULATOR_HOST), so
// the caller's shell cannot change what a child runs, and the HTTP proxies,
// since everything here is loopback; NO_PROXY=* tells clients that read it
// (certbot, curl) the same.
func Environ(extra ...string) []string {
	var env []string
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		switch up := strings.ToUpper(name); {
		case strings.HasPrefix(up, "ACMERA_"), strings.HasPrefix(up, "GOOGLE_"), up == "FIRESTORE_EMULATOR_HOST",
			up == "FUNCTION_TARGET", up == "PORT", strings.HasSuffix(up, "_PROXY"):
			continue
		}
		env = append(env, kv)
	}
	env = append(env, "NO_PROXY=*", "no_proxy=*")
	return append(env, extra...)
}
