package firestore

import (
	"context"
	"fmt"
	"time"

	"cloud.google.com/go/firestore"

	"github.com/acmera/acmera/pkg/core"
	"github.com/acmera/acmera/pkg/store"
)

// GetAccount reads an account (RFC 8555 §7.1.2). One document read.
func (s *Store) GetAccount(ctx context.Context, id string) (*core.Account, error) {
	ref, err := doc(s.accounts, id)
	if err != nil {
		return nil, err
	}
	snap, err := ref.Get(ctx)
	if err != nil {
		return nil, readErr("GetAccount: DocumentRef.Get", err)
	}
	return accountFromSnap(snap)
}

// GetAccountByKey finds the account bound to a JWK thumbprint (RFC 8555
// §7.3.1). It queries accounts by keyThumbprint (a single-field index) rather
// than reading accountKeys and then the account: one document read instead of
// two. The account and its binding are always written in one commit, so the
// query agrees with the binding.
func (s *Store) GetAccountByKey(ctx context.Context, thumbprint string) (*core.Account, error) {
	q := s.accounts.Where(fKeyThumbprint, "==", thumbprint).Limit(1)
	snaps, err := q.Documents(ctx).GetAll()
	if err != nil {
		return nil, readErr("GetAccountByKey: Query.GetAll", err)
	}
	if len(snaps) == 0 {
		return nil, notFoundf("account with key %q", thumbprint)
	}
	return accountFromSnap(snaps[0])
}

// CreateAccount stores a new account and Creates its accountKeys binding in
// one transaction with no reads (two writes): Create fails with
// AlreadyExists if the key is already bound, so of two racing requests with
// one key exactly one commits (RFC 8555 §7.3). An account with an EAB key
// adds one read (the key) and one write (its use count) to the same
// transaction (bindEABKey), so two accounts racing for one single-use key
// cannot both commit.
func (s *Store) CreateAccount(ctx context.Context, a *core.Account) error {
	acct, err := doc(s.accounts, a.ID)
	if err != nil {
		return err
	}
	key, err := doc(s.accountKeys, a.KeyThumbprint)
	if err != nil {
		return err
	}
	var eab *firestore.DocumentRef
	if a.EABKeyID != "" {
		if eab, err = doc(s.eabKeys, a.EABKeyID); err != nil {
			return fmt.Errorf("firestore: CreateAccount: %w: EAB key %q does not exist", store.ErrEABKeyUnusable, a.EABKeyID)
		}
	}
	return s.runTx(ctx, "CreateAccount", func(_ context.Context, tx *firestore.Transaction) error {
		var bind []firestore.Update
		if eab != nil {
			var err error
			if bind, err = bindEABKey(tx, eab, a); err != nil {
				return err
			}
		}
		if err := tx.Create(key, accountKeyDoc{AccountID: a.ID}); err != nil {
			return err
		}
		if err := tx.Create(acct, accountToDoc(a)); err != nil {
			return err
		}
		if eab != nil {
			return tx.Update(eab, bind)
		}
		return nil
	})
}

// updateAccount is the shared single-document transition of a valid
// account: one read and one LastUpdateTime-conditional write.
func (s *Store) updateAccount(ctx context.Context, call, id string, change func(*core.Account) []firestore.Update) (*core.Account, error) {
	ref, err := doc(s.accounts, id)
	if err != nil {
		return nil, err
	}
	return transition(ctx, call, ref, accountFromSnap, func(a *core.Account) ([]firestore.Update, error) {
		if a.Status != core.StatusValid {
			return nil, conflictf("%s: account %s is %s", call, id, a.Status)
		}
		return change(a), nil
	})
}

// UpdateAccountContact replaces a valid account's contacts (RFC 8555 §7.3.2).
// One read, one conditional write.
func (s *Store) UpdateAccountContact(ctx context.Context, id string, contact []string) (*core.Account, error) {
	return s.updateAccount(ctx, "UpdateAccountContact", id, func(a *core.Account) []firestore.Update {
		a.Contact = contact
		return []firestore.Update{{Path: fContact, Value: contact}}
	})
}

// DeactivateAccount moves a valid account to deactivated (RFC 8555
// §7.3.6); the key stays bound. One read, one conditional write.
func (s *Store) DeactivateAccount(ctx context.Context, id string) (*core.Account, error) {
	return s.updateAccount(ctx, "DeactivateAccount", id, func(a *core.Account) []firestore.Update {
		a.Status = core.StatusDeactivated
		return []firestore.Update{{Path: fStatus, Value: string(a.Status)}}
	})
}

// ChangeAccountKey rebinds a valid account to a new key (RFC 8555 §7.3.5)
// in one transaction: it reads the account, then Creates the new binding
// (AlreadyExists if that key is bound anywhere), deletes the old one and
// updates the account. One read, three writes. The old key is left unbound,
// so it may register a new account later.
func (s *Store) ChangeAccountKey(ctx context.Context, id, oldThumbprint, newThumbprint string, newKey []byte) (*core.Account, error) {
	const call = "ChangeAccountKey"
	acctRef, err := doc(s.accounts, id)
	if err != nil {
		return nil, err
	}
	oldRef, err := doc(s.accountKeys, oldThumbprint)
	if err != nil {
		return nil, conflictf("%s: account %s: bad old key %q", call, id, oldThumbprint)
	}
	newRef, err := doc(s.accountKeys, newThumbprint)
	if err != nil {
		return nil, conflictf("%s: account %s: bad new key %q", call, id, newThumbprint)
	}
	// current is the account when the transition does not apply, result
	// the changed account; both are reset on every run of the function.
	var current, result *core.Account
	err = s.runTx(ctx, call, func(_ context.Context, tx *firestore.Transaction) error {
		current, result = nil, nil
		snap, err := tx.Get(acctRef)
		if err != nil {
			return readErr(call+": Transaction.Get", err)
		}
		a, err := accountFromSnap(snap)
		if err != nil {
			return err
		}
		if a.Status != core.StatusValid || a.KeyThumbprint != oldThumbprint {
			current = a
			return conflictf("%s: account %s is %s with key %q", call, id, a.Status, a.KeyThumbprint)
		}
		if err := tx.Create(newRef, accountKeyDoc{AccountID: id}); err != nil {
			return err
		}
		if err := tx.Delete(oldRef); err != nil {
			return err
		}
		a.KeyThumbprint, a.Key = newThumbprint, newKey
		result = a
		return tx.Update(acctRef, []firestore.Update{
			{Path: fKeyThumbprint, Value: newThumbprint},
			{Path: fKey, Value: newKey},
		})
	})
	if err != nil {
		return current, err
	}
	return result, nil
}

// RedeemNonce Creates nonces/{nonce} (RFC 8555 §6.5): AlreadyExists means
// the nonce was redeemed before, a replay. One write; expires becomes the
// document's TTL.
func (s *Store) RedeemNonce(ctx context.Context, nonce string, expires time.Time) error {
	ref, err := doc(s.nonces, nonce)
	if err != nil {
		return conflictf("RedeemNonce: unusable nonce %q", nonce)
	}
	if _, err := ref.Create(ctx, nonceDoc{ExpireAt: expires}); err != nil {
		return writeErr("RedeemNonce: DocumentRef.Create", err)
	}
	return nil
}
