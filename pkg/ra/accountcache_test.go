package ra

import (
	"testing"
	"time"

	"github.com/acmera/acmera/pkg/core"
)

func TestAccountCache(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	c := newAccountCache(5*time.Second, 2)
	a := &core.Account{ID: "a"}
	c.put(a, now)
	if c.get("a", now.Add(4*time.Second)) != a {
		t.Fatal("entry not served within its TTL")
	}
	if c.get("a", now.Add(6*time.Second)) != nil {
		t.Fatal("entry served after its TTL")
	}
	c.put(a, now)
	c.evict("a")
	if c.get("a", now) != nil {
		t.Fatal("evicted entry served")
	}
	c.put(&core.Account{ID: "b"}, now)
	c.put(&core.Account{ID: "c"}, now)
	c.put(&core.Account{ID: "d"}, now) // over the bound: the cache empties first
	if c.get("b", now) != nil || c.get("d", now) == nil || len(c.m) != 1 {
		t.Fatalf("bound not enforced: %d entries", len(c.m))
	}
	off := newAccountCache(-1, 10)
	off.put(a, now)
	if off.get("a", now) != nil {
		t.Fatal("disabled cache served an entry")
	}
}

func TestOrderLimiter(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	l := newOrderLimiter()
	for i := 0; i < 3; i++ {
		if ok, _ := l.allow("a", 3, now); !ok {
			t.Fatalf("order %d refused under the limit", i)
		}
	}
	ok, until := l.allow("a", 3, now.Add(time.Minute))
	if ok || !until.Equal(now.Add(time.Hour)) {
		t.Fatalf("fourth order: %v until %v", ok, until)
	}
	if ok, _ := l.allow("b", 3, now); !ok {
		t.Fatal("another account was limited")
	}
	if ok, _ := l.allow("a", 3, now.Add(time.Hour)); !ok {
		t.Fatal("limit not reset after the window")
	}
	if ok, _ := l.allow("a", -1, now); !ok {
		t.Fatal("negative limit must not limit")
	}
}
