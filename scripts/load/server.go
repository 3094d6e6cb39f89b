package main

import (
	"context"
	"errors"
	"fmt"
	"os"

	"github.com/acmera/acmera/scripts/internal/e2eutil"
)

// child is an acmera process (embedded default) started by the load tool,
// with its own temporary data directory.
type child struct {
	*e2eutil.Server
	dir string // temporary directory: data/ and acmera.log
}

// startChild runs the binary of cfg on a free loopback port, in a new
// temporary directory, and waits, bounded, until it serves its directory
// over HTTPS trusted through root.pem.
func startChild(ctx context.Context, cfg e2eutil.ServerConfig) (*child, error) {
	dir, err := os.MkdirTemp("", "acmera-load-")
	if err != nil {
		return nil, fmt.Errorf("os.MkdirTemp: %w", err)
	}
	cfg.Dir = dir
	c := &child{Server: e2eutil.NewServer(cfg), dir: dir}
	if err := c.Start(ctx); err != nil {
		tail, _ := e2eutil.Tail(c.LogPath, 4096)
		_ = os.RemoveAll(dir)
		return nil, fmt.Errorf("%w; log:\n%s", err, tail)
	}
	return c, nil
}

// stop stops the server (SIGTERM, then SIGKILL after e2eutil.StopGrace)
// and removes its temporary directory.
func (c *child) stop() {
	_ = c.Stop()
	_ = os.RemoveAll(c.dir)
}

// errNoServer says how to point the tool at a server.
var errNoServer = errors.New("set -server BIN (start acmera as a child) or -directory URL (an already running server)")
