package testport

import (
	"net"
	"strconv"
	"testing"
)

func TestFreeIsBelowTheEphemeralRangeAndBindable(t *testing.T) {
	low := ephemeralLow()
	seen := map[int]bool{}
	for range 20 {
		port, err := Free()
		if err != nil {
			t.Fatalf("Free: %v", err)
		}
		if low > lowest+1000 && (port < lowest || port >= low) {
			t.Errorf("port %d is outside [%d, %d)", port, lowest, low)
		}
		l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
		if err != nil {
			t.Fatalf("port %d from Free cannot be bound: %v", port, err)
		}
		l.Close()
		seen[port] = true
	}
	if len(seen) < 2 {
		t.Errorf("20 picks gave %d distinct port(s): not random", len(seen))
	}
}

func TestFreeSkipsAPortInUse(t *testing.T) {
	// Hold every port but one in a small window is impractical; instead
	// check that tryBind refuses a held port, which is what Free relies on.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if err := tryBind(l.Addr().(*net.TCPAddr).Port); err == nil {
		t.Error("tryBind succeeded on a port held by a listener")
	}
}
