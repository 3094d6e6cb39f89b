package e2eutil

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// Bind9 is BIND 9's named on a loopback port, authoritative for one zone
// that accepts RFC 2136 updates signed with a TSIG key (RFC 8945,
// hmac-sha256). Recursion is off: it answers for its zone only.
type Bind9 struct {
	Addr    string // 127.0.0.1:PORT, UDP and TCP
	Zone    string // the zone, without the final dot: "e2e.test"
	KeyName string // the TSIG key's name
	Secret  string // the TSIG key's secret, base64
}

// StartBind9 starts named (the binary bin) for zone with its
// configuration, zone file and log under dir, waits until it answers the
// zone's SOA, and stops it when the test ends.
func StartBind9(t testing.TB, bin, dir, zone string) *Bind9 {
	t.Helper()
	raw := make([]byte, 32)
	_, _ = rand.Read(raw)
	b := &Bind9{Addr: "127.0.0.1:" + strconv.Itoa(FreePort(t)), Zone: zone, KeyName: "acmera-e2e",
		Secret: base64.StdEncoding.EncodeToString(raw)}
	_, port, _ := strings.Cut(b.Addr, ":")
	zoneFile := filepath.Join(dir, zone+".zone")
	writeFile(t, zoneFile, fmt.Sprintf(`$ORIGIN %[1]s.
$TTL 5
@	IN SOA ns1 hostmaster 1 60 60 600 5
@	IN NS ns1
ns1	IN A 127.0.0.1
`, zone))
	conf := filepath.Join(dir, "named.conf")
	writeFile(t, conf, fmt.Sprintf(`options {
	directory "%[1]s";
	pid-file "%[1]s/named.pid";
	session-keyfile "%[1]s/session.key";
	managed-keys-directory "%[1]s";
	listen-on port %[2]s { 127.0.0.1; };
	listen-on-v6 { none; };
	recursion no;
	dnssec-validation no;
	allow-query { 127.0.0.1; };
	notify no;
};
controls { };
key "%[3]s" {
	algorithm hmac-sha256;
	secret "%[4]s";
};
zone "%[5]s" {
	type primary;
	file "%[6]s";
	allow-update { key "%[3]s"; };
};
`, dir, port, b.KeyName, b.Secret, zone, zoneFile))
	// -g: foreground, log to stderr; -4: IPv4 only.
	cmd := exec.Command(bin, "-g", "-4", "-c", conf)
	cmd.Env = Environ()
	logPath := filepath.Join(dir, "named.log")
	p, err := StartProcess(ProcessConfig{Name: "named", Cmd: cmd, LogPath: logPath})
	if err != nil {
		t.Fatalf("start named: %v", err)
	}
	stopOnCleanup(t, p, "named", logPath, StopGrace)
	ctx, cancel := context.WithTimeout(t.Context(), StartTimeout)
	defer cancel()
	if err := b.waitSOA(ctx, p.Exited()); err != nil {
		t.Fatalf("named: %v", err)
	}
	return b
}

// waitSOA polls the zone's SOA until named answers it authoritatively.
func (b *Bind9) waitSOA(ctx context.Context, exited <-chan struct{}) error {
	c := &dns.Client{Timeout: time.Second}
	m := new(dns.Msg).SetQuestion(dns.Fqdn(b.Zone), dns.TypeSOA)
	for {
		in, _, err := c.ExchangeContext(ctx, m, b.Addr)
		if err == nil && in.Rcode == dns.RcodeSuccess && in.Authoritative && len(in.Answer) > 0 {
			return nil
		}
		if err == nil {
			err = fmt.Errorf("rcode %s, aa=%t", dns.RcodeToString[in.Rcode], in.Authoritative)
		}
		select {
		case <-exited:
			return fmt.Errorf("exited before answering SOA %s (last: %v)", b.Zone, err)
		case <-ctx.Done():
			return fmt.Errorf("no SOA for %s: %w (last: %v)", b.Zone, ctx.Err(), err)
		case <-time.After(pollInterval):
		}
	}
}
