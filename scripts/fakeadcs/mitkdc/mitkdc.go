// Package mitkdc runs a real MIT Kerberos KDC (Debian's krb5-kdc) on
// loopback for a test: a fresh realm database in a temporary directory,
// principals and keytabs made with kadmin.local, krb5kdc on a free port.
// Tests skip when the binaries are missing, unless CI=true.
package mitkdc

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/acmera/acmera/scripts/testport"
)

// KDC is a running MIT KDC.
type KDC struct {
	// Realm is the realm, Addr the KDC's 127.0.0.1:port (TCP and UDP).
	Realm string
	Addr  string
	// Krb5Conf is the path of a krb5.conf naming the realm and KDC
	// (KRB5_CONFIG for MIT tools).
	Krb5Conf string
	dir      string
	env      []string
	tb       testing.TB
}

// Start creates the realm and starts krb5kdc, stopped when the test ends.
func Start(tb testing.TB, realm string) *KDC {
	tb.Helper()
	for _, bin := range []string{"kdb5_util", "kadmin.local", "krb5kdc"} {
		if _, err := exec.LookPath(bin); err != nil {
			if os.Getenv("CI") == "true" {
				tb.Fatalf("mitkdc: %s not found: install krb5-kdc krb5-admin-server krb5-user", bin)
			}
			tb.Skipf("mitkdc: %s not found (apt-get install krb5-kdc krb5-admin-server krb5-user)", bin)
		}
	}
	var lastErr error
	for attempt := 0; attempt < 3; attempt++ {
		k, err := start(tb, realm)
		if err == nil {
			return k
		}
		lastErr = err
	}
	tb.Fatalf("mitkdc: %v", lastErr)
	return nil
}

func start(tb testing.TB, realm string) (*KDC, error) {
	dir := tb.TempDir()
	port, err := testport.Free()
	if err != nil {
		return nil, err
	}
	k := &KDC{Realm: realm, Addr: "127.0.0.1:" + strconv.Itoa(port), Krb5Conf: filepath.Join(dir, "krb5.conf"), dir: dir, tb: tb}
	kdcConf := filepath.Join(dir, "kdc.conf")
	files := map[string]string{
		k.Krb5Conf: fmt.Sprintf("[libdefaults]\n default_realm = %s\n dns_lookup_kdc = false\n dns_lookup_realm = false\n"+
			"[realms]\n %s = {\n  kdc = %s\n }\n", realm, realm, k.Addr),
		kdcConf: fmt.Sprintf("[kdcdefaults]\n kdc_ports = %d\n kdc_tcp_ports = %d\n"+
			"[realms]\n %s = {\n  database_name = %s\n  key_stash_file = %s\n  acl_file = %s\n  kdc_ports = %d\n  kdc_tcp_ports = %d\n"+
			"  max_life = 10h 0m 0s\n  supported_enctypes = aes256-cts-hmac-sha1-96:normal aes128-cts-hmac-sha1-96:normal\n }\n"+
			"[logging]\n kdc = FILE:%s\n",
			port, port, realm, filepath.Join(dir, "principal"), filepath.Join(dir, "stash"), filepath.Join(dir, "kadm5.acl"),
			port, port, filepath.Join(dir, "kdc.log")),
		filepath.Join(dir, "kadm5.acl"): "",
	}
	for path, body := range files {
		if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
			return nil, err
		}
	}
	k.env = append(os.Environ(), "KRB5_CONFIG="+k.Krb5Conf, "KRB5_KDC_PROFILE="+kdcConf)
	if err := k.run("kdb5_util", "create", "-s", "-r", realm, "-P", "master-"+strconv.Itoa(port)); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, "krb5kdc", "-n", "-r", realm)
	cmd.Env = k.env
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		cancel()
		return nil, fmt.Errorf("krb5kdc: %w", err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	tb.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
		}
		if tb.Failed() {
			log, _ := os.ReadFile(filepath.Join(dir, "kdc.log"))
			tb.Logf("krb5kdc output:\n%s\nkdc.log:\n%s", out.String(), log)
		}
	})
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", k.Addr, 200*time.Millisecond)
		if err == nil {
			c.Close()
			return k, nil
		}
		select {
		case <-done:
			return nil, fmt.Errorf("krb5kdc exited: %s", out.String())
		default:
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("krb5kdc did not listen on %s within 10 s", k.Addr)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (k *KDC) run(name string, args ...string) error {
	cmd := exec.Command(name, args...)
	cmd.Env = k.env
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s %v: %w: %s", name, args, err, out)
	}
	return nil
}

func (k *KDC) kadmin(query string) {
	k.tb.Helper()
	if err := k.run("kadmin.local", "-r", k.Realm, "-q", query); err != nil {
		k.tb.Fatalf("mitkdc: %v", err)
	}
}

// AddUser adds a user principal with a password.
func (k *KDC) AddUser(name, password string) {
	k.tb.Helper()
	k.kadmin(fmt.Sprintf("addprinc -pw %s %s", password, name))
}

// AddService adds a service principal (e.g. HTTP/localhost) with a random
// key and returns the path of a keytab holding it.
func (k *KDC) AddService(spn string) string {
	k.tb.Helper()
	k.kadmin("addprinc -randkey " + spn)
	return k.Keytab(spn, false)
}

// Keytab exports principal's keys to a new keytab file and returns its
// path; keep keeps the current keys (a user's password stays valid).
func (k *KDC) Keytab(principal string, keep bool) string {
	k.tb.Helper()
	path := filepath.Join(k.dir, fmt.Sprintf("kt-%d.keytab", time.Now().UnixNano()))
	q := "ktadd -k " + path
	if keep {
		q += " -norandkey"
	}
	k.kadmin(q + " " + principal)
	return path
}
