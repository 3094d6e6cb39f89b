package wfe_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"testing"
	"time"

	gfs "cloud.google.com/go/firestore"
	"google.golang.org/api/iterator"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/acmera/acmera/pkg/store/firestore"
)

// firestoreNonces is the collection of redeemed nonces, which every
// request with a good nonce writes: left out of the snapshots.
const firestoreNonces = "nonces"

// firestoreStack is the same handler over pkg/store/firestore on the
// emulator named by FIRESTORE_EMULATOR_HOST, in a project of its own so
// that the snapshot can list every collection. It skips without an
// emulator, as the store's own tests do.
func firestoreStack(t *testing.T) *stack {
	host := os.Getenv("FIRESTORE_EMULATOR_HOST")
	if host == "" {
		t.Skip("FIRESTORE_EMULATOR_HOST not set; run scripts/firestore-emulator.sh start")
	}
	var r [6]byte
	rand.Read(r[:])
	project := "catalogue-" + hex.EncodeToString(r[:])
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	st, err := firestore.New(ctx, firestore.Config{ProjectID: project, EmulatorHost: host})
	if err != nil {
		t.Fatalf("firestore.New: %v", err)
	}
	t.Cleanup(func() { st.Close() })
	// The client library reads FIRESTORE_EMULATOR_HOST itself.
	client, err := gfs.NewClient(ctx, project)
	if err != nil {
		t.Fatalf("firestore.NewClient: %v", err)
	}
	t.Cleanup(func() { client.Close() })
	dir := t.TempDir()
	snap := func(ctx context.Context) (map[string]string, error) {
		out := map[string]string{}
		err := snapshotCollections(ctx, client.Collections(ctx), "", out)
		return out, err
	}
	return &stack{env: newEnvOn(t, dir, st), snapshot: snap, secrets: []string{dir, project}}
}

// snapshotCollections adds every document below the collections of it to
// out, keyed by path, valued by its fields and update time (so a rewrite
// with equal fields still shows).
func snapshotCollections(ctx context.Context, it *gfs.CollectionIterator, prefix string, out map[string]string) error {
	for {
		coll, err := it.Next()
		if errors.Is(err, iterator.Done) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("collections: %w", err)
		}
		if prefix == "" && coll.ID == firestoreNonces {
			continue
		}
		docs, err := coll.DocumentRefs(ctx).GetAll()
		if err != nil {
			return fmt.Errorf("documents of %s: %w", coll.ID, err)
		}
		for _, ref := range docs {
			path := prefix + coll.ID + "/" + ref.ID
			doc, err := ref.Get(ctx)
			switch {
			case err == nil:
				out[path] = fmt.Sprintf("%v @%s", doc.Data(), doc.UpdateTime.Format(time.RFC3339Nano))
			case !isNotFound(err): // a document with only subcollections has no fields
				return fmt.Errorf("get %s: %w", path, err)
			}
			if err := snapshotCollections(ctx, ref.Collections(ctx), path+"/", out); err != nil {
				return err
			}
		}
	}
}

func isNotFound(err error) bool { return status.Code(err) == codes.NotFound }

// TestHostileInputFirestore runs the catalogue's firestore cases on the
// Firestore stack.
func TestHostileInputFirestore(t *testing.T) {
	var cases []hostile
	for _, c := range catalogue() {
		if c.firestore {
			cases = append(cases, c)
		}
	}
	if len(cases) < 10 {
		t.Fatalf("%d cases are marked firestore, want at least 10", len(cases))
	}
	runCatalogue(t, firestoreStack(t), cases)
}
