package certpem

import (
	"bytes"
	"encoding/pem"
	"testing"
)

func TestAppendMatchesEncodingPEM(t *testing.T) {
	for n := range 200 {
		der := bytes.Repeat([]byte{byte(n), 0x80, 0xff}, n)[:n]
		want := append([]byte("x"), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})...)
		if got := Append([]byte("x"), der); !bytes.Equal(got, want) {
			t.Fatalf("%d bytes: got %q, want %q", n, got, want)
		}
	}
}
