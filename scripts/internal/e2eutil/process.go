package e2eutil

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"syscall"
	"time"
)

const (
	// KillWait bounds the wait for a process to exit after SIGKILL.
	KillWait = 10 * time.Second
	// pollInterval spaces the requests of WaitHTTP.
	pollInterval = 50 * time.Millisecond
)

// ProcessConfig says how to run a child process.
type ProcessConfig struct {
	Name    string    // for messages: "acmera", "fakegcp", "Validate"…
	Cmd     *exec.Cmd // not started; StartProcess sets its Stdout and Stderr
	LogPath string    // the process's stdout and stderr are appended here
	// Banner, if set, is shown each line of stdout until it returns true
	// (WaitBanner returns that line); stdout is then copied to the log line
	// by line. Without it, stdout goes straight to the log.
	Banner func(line string) bool
}

// Process is a running child process whose output goes to a log file.
type Process struct {
	name   string
	cmd    *exec.Cmd
	exited chan struct{} // closed once the process has exited
	banner chan string   // the banner line; nil without ProcessConfig.Banner
}

// StartProcess starts cfg.Cmd with its output appended to cfg.LogPath.
func StartProcess(cfg ProcessConfig) (*Process, error) {
	logf, err := os.OpenFile(cfg.LogPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, fmt.Errorf("os.OpenFile: %w", err)
	}
	p := &Process{name: cfg.Name, cmd: cfg.Cmd, exited: make(chan struct{})}
	p.cmd.Stderr = logf
	var stdout io.Reader
	if cfg.Banner == nil {
		p.cmd.Stdout = logf
	} else {
		if stdout, err = p.cmd.StdoutPipe(); err != nil {
			_ = logf.Close()
			return nil, fmt.Errorf("exec.Cmd.StdoutPipe: %w", err)
		}
		p.banner = make(chan string, 1)
	}
	if err := p.cmd.Start(); err != nil {
		_ = logf.Close()
		return nil, fmt.Errorf("start %s: %w", cfg.Name, err)
	}
	go func() {
		if stdout != nil {
			copyLines(stdout, logf, cfg.Banner, p.banner)
		}
		_ = p.cmd.Wait() // after the last read of stdout, as exec.Cmd requires
		_ = logf.Close()
		close(p.exited)
	}()
	return p, nil
}

// copyLines copies r to log line by line and sends found the first line
// banner accepts, then copies the rest of r.
func copyLines(r io.Reader, log io.Writer, banner func(string) bool, found chan<- string) {
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		line := sc.Text()
		fmt.Fprintln(log, line)
		if banner != nil && banner(line) {
			found <- line
			banner = nil
		}
	}
	_, _ = io.Copy(log, r) // after a line too long to scan: keep draining
}

// WaitBanner waits, bounded by ctx, for the stdout line that
// ProcessConfig.Banner accepted, and fails early if the process exits.
func (p *Process) WaitBanner(ctx context.Context) (string, error) {
	select {
	case line := <-p.banner:
		return line, nil
	case <-p.exited:
		return "", fmt.Errorf("%s exited before printing its banner (%s)", p.name, p.cmd.ProcessState)
	case <-ctx.Done():
		return "", fmt.Errorf("%s printed no banner: %w", p.name, ctx.Err())
	}
}

// Exited is closed once the process has exited.
func (p *Process) Exited() <-chan struct{} { return p.exited }

// Pid is the process ID.
func (p *Process) Pid() int { return p.cmd.Process.Pid }

// Stop sends SIGTERM and waits up to grace for the exit; then it kills
// the process (Kill) and reports that it had to. Stopping an exited
// process does nothing.
func (p *Process) Stop(grace time.Duration) error {
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.exited:
		return nil
	case <-time.After(grace):
	}
	if err := p.Kill(); err != nil {
		return err
	}
	return fmt.Errorf("%s did not exit within %s of SIGTERM; killed it", p.name, grace)
}

// Kill sends SIGKILL (kill -9) and waits, up to KillWait, for the exit.
// Killing an exited process does nothing.
func (p *Process) Kill() error {
	_ = p.cmd.Process.Kill()
	select {
	case <-p.exited:
		return nil
	case <-time.After(KillWait):
		return fmt.Errorf("%s did not exit within %s of SIGKILL", p.name, KillWait)
	}
}

// WaitHTTP polls url with hc until it answers with status want (0: any
// status), and fails when ctx is done or exited (nil: never) is closed.
func WaitHTTP(ctx context.Context, hc *http.Client, url string, want int, exited <-chan struct{}) error {
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return fmt.Errorf("http.NewRequest: %w", err)
		}
		res, err := hc.Do(req)
		if err == nil {
			res.Body.Close()
			if want == 0 || res.StatusCode == want {
				return nil
			}
			err = fmt.Errorf("status %s", res.Status)
		}
		select {
		case <-exited:
			return fmt.Errorf("GET %s: the process exited (last answer: %v)", url, err)
		case <-ctx.Done():
			return fmt.Errorf("GET %s: %w (last answer: %v)", url, ctx.Err(), err)
		case <-time.After(pollInterval):
		}
	}
}

// Tail returns the last n bytes of the file at path.
func Tail(path string, n int) ([]byte, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("os.ReadFile: %w", err)
	}
	if len(b) > n {
		b = b[len(b)-n:]
	}
	return b, nil
}
