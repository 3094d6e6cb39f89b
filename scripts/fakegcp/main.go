// Command fakegcp serves wire-level fakes of the Google Cloud services
// acmera talks to, on loopback, for tests and local runs: Certificate
// Authority Service (gRPC, privatecapb.CertificateAuthorityService) and
// Cloud Tasks (gRPC, cloudtaskspb.CloudTasks, dispatching HTTP tasks with
// OIDC tokens), plus an HTTP endpoint with GET /jwks (the token keys),
// GET /root.pem (the CA fake's root), GET /stats (call counts as JSON) and
// POST /fail?service=cas|tasks&method=M&n=N&code=C, POST /hold?n=N (CAS
// mints, then holds its answer until the caller gives up) and POST
// /duplicate?n=N[&after=D] (the next N tasks delivered twice, the second
// time D after the first) for fault injection.
package main

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"

	"github.com/acmera/acmera/scripts/fakegcp/casfake"
	"github.com/acmera/acmera/scripts/fakegcp/tasksfake"
)

func main() {
	casAddr := flag.String("cas", "127.0.0.1:0", "CAS gRPC listen address")
	tasksAddr := flag.String("tasks", "127.0.0.1:0", "Cloud Tasks gRPC listen address")
	httpAddr := flag.String("http", "127.0.0.1:0", "HTTP listen address (/jwks, /root.pem, /stats, /fail)")
	pool := flag.String("pool", casfake.DefaultPool, "CA pool resource name")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, *casAddr, *tasksAddr, *httpAddr, *pool); err != nil {
		fmt.Fprintln(os.Stderr, "fakegcp:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, casAddr, tasksAddr, httpAddr, pool string) error {
	cas, err := casfake.New(casfake.Config{Pool: pool})
	if err != nil {
		return fmt.Errorf("casfake.New: %w", err)
	}
	tasks, err := tasksfake.New(ctx, tasksfake.Config{AutoCreateQueues: true})
	if err != nil {
		return fmt.Errorf("tasksfake.New: %w", err)
	}
	defer tasks.Close()
	servers := map[string]func(*grpc.Server){"cas": cas.Register, "tasks": func(g *grpc.Server) { tasks.Register(g) }}
	addrs := map[string]string{"cas": casAddr, "tasks": tasksAddr}
	for _, name := range []string{"cas", "tasks"} {
		ln, err := net.Listen("tcp", addrs[name])
		if err != nil {
			return fmt.Errorf("listen %s: %w", name, err)
		}
		g := grpc.NewServer()
		servers[name](g)
		go g.Serve(ln)
		defer g.Stop()
		fmt.Printf("%s=%s\n", name, ln.Addr())
	}
	mux := http.NewServeMux()
	mux.Handle("GET /jwks", tasks.JWKSHandler())
	mux.Handle("GET /root.pem", cas.Handler())
	mux.HandleFunc("GET /stats", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]any{"cas": cas.Stats(), "casMinted": cas.Minted(), "tasks": tasks.Stats()})
	})
	// GET /token?email=E&audience=A: a Google-shaped ID token of E for A,
	// signed with the key /jwks publishes, as the metadata server would
	// give a service account (tests of callers other than Cloud Tasks).
	mux.HandleFunc("GET /token", func(w http.ResponseWriter, r *http.Request) {
		email, aud := r.URL.Query().Get("email"), r.URL.Query().Get("audience")
		if email == "" || aud == "" {
			http.Error(w, "email and audience are required", http.StatusBadRequest)
			return
		}
		tok, err := tasks.MintToken(tasks.OIDCClaims(email, aud))
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		fmt.Fprint(w, tok)
	})
	mux.HandleFunc("POST /fail", func(w http.ResponseWriter, r *http.Request) {
		n, err1 := strconv.Atoi(r.URL.Query().Get("n"))
		code, err2 := strconv.Atoi(r.URL.Query().Get("code"))
		if err1 != nil || err2 != nil {
			http.Error(w, "n and code must be integers", http.StatusBadRequest)
			return
		}
		method := r.URL.Query().Get("method")
		switch r.URL.Query().Get("service") {
		case "cas":
			cas.FailNext(method, n, codes.Code(code))
		case "tasks":
			tasks.FailNext(method, n, codes.Code(code))
		default:
			http.Error(w, "service must be cas or tasks", http.StatusBadRequest)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})
	mux.HandleFunc("POST /hold", func(w http.ResponseWriter, r *http.Request) {
		n, err := strconv.Atoi(r.URL.Query().Get("n"))
		if err != nil {
			http.Error(w, "n must be an integer", http.StatusBadRequest)
			return
		}
		cas.HoldAnswers(n)
		w.WriteHeader(http.StatusNoContent)
	})
	mux.HandleFunc("POST /duplicate", func(w http.ResponseWriter, r *http.Request) {
		n, err := strconv.Atoi(r.URL.Query().Get("n"))
		if err != nil {
			http.Error(w, "n must be an integer", http.StatusBadRequest)
			return
		}
		after, err := time.ParseDuration(cmp.Or(r.URL.Query().Get("after"), "0s"))
		if err != nil {
			http.Error(w, "after must be a duration", http.StatusBadRequest)
			return
		}
		tasks.DuplicateDeliveryLate(n, after)
		w.WriteHeader(http.StatusNoContent)
	})
	ln, err := net.Listen("tcp", httpAddr)
	if err != nil {
		return fmt.Errorf("listen http: %w", err)
	}
	fmt.Printf("http=%s\npool=%s\n", ln.Addr(), cas.Pool())
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() { <-ctx.Done(); srv.Close() }()
	if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("http.Serve: %w", err)
	}
	return nil
}
