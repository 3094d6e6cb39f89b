package firestore

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

// TestIndexesDeclared fails when terraform/firestore_indexes.json, which
// Terraform turns into google_firestore_index resources, lacks an index
// that a query of this package needs (production would reject the query
// with FailedPrecondition; the emulator would not notice).
func TestIndexesDeclared(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("..", "..", "..", "terraform", "firestore_indexes.json"))
	if err != nil {
		t.Fatalf("os.ReadFile: %v", err)
	}
	var declared []Index
	if err := json.Unmarshal(b, &declared); err != nil {
		t.Fatalf("json.Unmarshal(firestore_indexes.json): %v", err)
	}
	for _, need := range CompositeIndexes() {
		t.Run(need.Collection, func(t *testing.T) {
			for _, d := range declared {
				if reflect.DeepEqual(d, need) {
					return
				}
			}
			t.Errorf("terraform/firestore_indexes.json lacks %+v", need)
		})
	}
	for _, d := range declared {
		for _, f := range d.Fields {
			if f.Order != "ASCENDING" && f.Order != "DESCENDING" {
				t.Errorf("index on %s: field %s has order %q, want ASCENDING or DESCENDING", d.Collection, f.Path, f.Order)
			}
		}
	}
}
