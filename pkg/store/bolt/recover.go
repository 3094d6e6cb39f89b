package bolt

import (
	"bytes"
	"context"

	"go.etcd.io/bbolt"
)

// ProcessingChallenges implements store.Recoverer: the challenges left in
// processing by a crash, to be validated again. A challenge whose
// authorization was deactivated meanwhile is not listed: no result can be
// recorded for it any more.
func (s *Store) ProcessingChallenges(ctx context.Context) ([][2]string, error) {
	var out [][2]string
	err := s.view(ctx, "ProcessingChallenges", func(tx *bbolt.Tx) error {
		out = nil
		c := bucket(tx, bucketProcessing).Cursor()
		prefix := []byte("c\x00")
		for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
			authzID, challengeID, ok := bytes.Cut(k[len(prefix):], []byte{0})
			if ok {
				out = append(out, [2]string{string(authzID), string(challengeID)})
			}
		}
		return nil
	})
	return out, err
}

// ProcessingOrders implements store.Recoverer: the orders left in
// processing by a crash, whose finalize is to be retried.
func (s *Store) ProcessingOrders(ctx context.Context) ([]string, error) {
	var out []string
	err := s.view(ctx, "ProcessingOrders", func(tx *bbolt.Tx) error {
		out = nil
		c := bucket(tx, bucketProcessing).Cursor()
		prefix := []byte("o\x00")
		for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
			out = append(out, string(k[len(prefix):]))
		}
		return nil
	})
	return out, err
}
