package firestore

import (
	"context"
	"errors"

	"cloud.google.com/go/firestore"
	"google.golang.org/api/iterator"

	"github.com/acmera/acmera/pkg/core"
	"github.com/acmera/acmera/pkg/store"
)

var _ store.Recoverer = (*Store)(nil)

// recoverLimit bounds what one ProcessingChallenges or ProcessingOrders
// call returns (and reads), so a reconciler's pass costs at most that many
// document reads however much work is stuck; work beyond it is listed once
// the first batch has ended.
const recoverLimit = 500

// ProcessingChallenges implements store.Recoverer: the challenges of
// pending authorizations left processing, at most recoverLimit of them.
// Query: processing == true (the field authzStateUpdates keeps; Firestore's
// automatic single-field index), one read per authorization returned, at
// least one.
func (s *Store) ProcessingChallenges(ctx context.Context) ([][2]string, error) {
	snaps, err := s.firstDocs(ctx, s.authzs.Where(fProcessing, "==", true).Limit(recoverLimit))
	if err != nil {
		return nil, readErr("ProcessingChallenges: Query.Documents", err)
	}
	var out [][2]string
	for _, snap := range snaps {
		a, err := authzFromSnap(snap)
		if err != nil {
			return nil, err
		}
		if !a.Processing() {
			continue
		}
		for _, ch := range a.Challenges {
			if ch.Status == core.StatusProcessing {
				out = append(out, [2]string{a.ID, ch.ID})
			}
		}
	}
	return out, nil
}

// ProcessingOrders implements store.Recoverer: the IDs of orders in
// processing, at most recoverLimit of them. Query: status == processing
// (automatic single-field index), selecting no field: one read per order
// returned, at least one.
func (s *Store) ProcessingOrders(ctx context.Context) ([]string, error) {
	snaps, err := s.firstDocs(ctx, s.orders.Where(fStatus, "==", string(core.StatusProcessing)).Select().Limit(recoverLimit))
	if err != nil {
		return nil, readErr("ProcessingOrders: Query.Documents", err)
	}
	ids := make([]string, 0, len(snaps))
	for _, snap := range snaps {
		ids = append(ids, snap.Ref.ID)
	}
	return ids, nil
}

// firstDocs runs q (which carries a limit of at most recoverLimit) and
// returns its documents.
func (s *Store) firstDocs(ctx context.Context, q firestore.Query) ([]*firestore.DocumentSnapshot, error) {
	it := q.Documents(ctx)
	defer it.Stop()
	var out []*firestore.DocumentSnapshot
	for range recoverLimit {
		snap, err := it.Next()
		if errors.Is(err, iterator.Done) {
			break
		}
		if err != nil {
			return nil, err
		}
		out = append(out, snap)
	}
	return out, nil
}
