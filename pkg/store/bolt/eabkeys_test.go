package bolt

import (
	"testing"
	"time"
)

// An order document of the first layout (no trailing lifetime cap) still
// decodes, and one with the cap round-trips it.
func TestOrderLifetimeCapCompatible(t *testing.T) {
	old := orderDoc{id: "o1", accountID: "a1", status: "pending", createdAt: time.Unix(1, 0).UTC()}
	var got orderDoc
	if err := got.decode(old.encode()); err != nil || got.lifetimeCap != 0 || got.id != "o1" {
		t.Fatalf("decode(old layout) = %+v, %v", got, err)
	}
	capped := old
	capped.lifetimeCap = 36 * time.Hour
	b := capped.encode()
	if len(b) <= len(old.encode()) {
		t.Fatal("the cap was not appended")
	}
	got = orderDoc{}
	if err := got.decode(b); err != nil || got.lifetimeCap != 36*time.Hour {
		t.Fatalf("decode(with cap) = %+v, %v", got, err)
	}
}

func TestEABKeyDocTruncated(t *testing.T) {
	d := eabKeyDoc{kid: "k", profile: "acme", hmac: []byte("secret"), allow: []string{"*.x.example"}, maxLifetime: time.Hour}
	b := d.encode()
	for n := 1; n < len(b); n++ {
		var got eabKeyDoc
		if err := got.decode(b[:n]); err == nil {
			t.Fatalf("decode of %d of %d bytes succeeded", n, len(b))
		}
	}
}
