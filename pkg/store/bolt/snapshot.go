package bolt

import (
	"context"
	"fmt"

	"go.etcd.io/bbolt"
)

// Snapshot returns every key and value of the file, read in one read-only
// transaction, keyed by bucket name, a 0 byte, then the key (nested
// buckets, which the store does not use today, add their name and a 0
// byte the same way). It is for tests and operators that want to see or
// compare the whole state, such as a test asserting that a refused request
// wrote nothing; it copies everything, so it is not for request paths.
//
// Redeemed replay nonces are not included: they live in memory (see
// nonces.go), never in the file.
func (s *Store) Snapshot(ctx context.Context) (map[string][]byte, error) {
	out := make(map[string][]byte)
	err := s.view(ctx, "Snapshot", func(tx *bbolt.Tx) error {
		return tx.ForEach(func(name []byte, b *bbolt.Bucket) error {
			return snapshotBucket(out, string(name)+"\x00", b)
		})
	})
	if err != nil {
		return nil, fmt.Errorf("bolt.Snapshot: %w", err)
	}
	return out, nil
}

func snapshotBucket(out map[string][]byte, prefix string, b *bbolt.Bucket) error {
	return b.ForEach(func(k, v []byte) error {
		if v == nil {
			if nb := b.Bucket(k); nb != nil {
				return snapshotBucket(out, prefix+string(k)+"\x00", nb)
			}
		}
		out[prefix+string(k)] = append([]byte(nil), v...)
		return nil
	})
}
