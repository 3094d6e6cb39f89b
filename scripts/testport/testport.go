// Package testport picks loopback ports for test peers that bind them
// themselves (a child binary on $PORT, krb5kdc on its configured port).
//
// A port from a ":0" listener lies in the kernel's ephemeral range, so
// between the moment the picker closes it and the moment the child binds
// it, any outgoing connection on the machine (another test package dialling
// a fake) may take it as its source port, and the child fails with "address
// already in use". Free picks below that range instead, where only
// listeners bind, and checks that TCP and UDP are both free there.
package testport

import (
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"strconv"
	"strings"
)

// lowest is the bottom of the range Free picks from; the top is just under
// the ephemeral range.
const lowest = 20000

// Free returns a loopback port, outside the ephemeral range, on which TCP
// and UDP were both free a moment ago.
func Free() (int, error) {
	top := ephemeralLow()
	if top <= lowest+1000 {
		// An odd range: fall back to the kernel's pick.
		return kernelPick()
	}
	var lastErr error
	for range 64 {
		port := lowest + rand.IntN(top-lowest)
		if err := tryBind(port); err != nil {
			lastErr = err
			continue
		}
		return port, nil
	}
	return 0, fmt.Errorf("testport: no free port in [%d, %d) after 64 tries: %w", lowest, top, lastErr)
}

// tryBind binds port on 127.0.0.1 for TCP and UDP and releases both.
func tryBind(port int) error {
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("net.Listen tcp %s: %w", addr, err)
	}
	defer l.Close()
	p, err := net.ListenPacket("udp", addr)
	if err != nil {
		return fmt.Errorf("net.ListenPacket udp %s: %w", addr, err)
	}
	return p.Close()
}

func kernelPick() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("net.Listen: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// ephemeralLow is the bottom of the kernel's ephemeral port range (Linux's
// default 32768 where it cannot be read).
func ephemeralLow() int {
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err != nil {
		return 32768
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return 32768
	}
	n, err := strconv.Atoi(f[0])
	if err != nil || n <= 0 || n > 65535 {
		return 32768
	}
	return n
}
