package firestore

import (
	"os"
	"testing"

	"github.com/acmera/acmera/pkg/store"
	"github.com/acmera/acmera/pkg/store/storetest"
)

// TestConformance runs the shared store conformance suite on the emulator.
func TestConformance(t *testing.T) {
	if os.Getenv("FIRESTORE_EMULATOR_HOST") == "" {
		t.Skip("FIRESTORE_EMULATOR_HOST not set; run scripts/firestore-emulator.sh start")
	}
	storetest.Run(t, func(t *testing.T) store.Store {
		s, _ := openTest(t)
		return s
	})
}
