package bolt

import (
	"context"
	"errors"
	"slices"

	"go.etcd.io/bbolt"

	"github.com/acmera/acmera/pkg/core"
	"github.com/acmera/acmera/pkg/store"
)

// GetAccount implements store.Reader.
func (s *Store) GetAccount(ctx context.Context, id string) (*core.Account, error) {
	var d accountDoc
	err := s.view(ctx, "GetAccount", func(tx *bbolt.Tx) error {
		return load(tx, bucketAccounts, id, &d)
	})
	if err != nil {
		return nil, err
	}
	return d.core(), nil
}

// GetAccountByKey implements store.Reader.
func (s *Store) GetAccountByKey(ctx context.Context, thumbprint string) (*core.Account, error) {
	var d accountDoc
	err := s.view(ctx, "GetAccountByKey", func(tx *bbolt.Tx) error {
		id := bucket(tx, bucketAccountKeys).Get([]byte(thumbprint))
		if id == nil {
			return store.ErrNotFound
		}
		return load(tx, bucketAccounts, string(id), &d)
	})
	if err != nil {
		return nil, err
	}
	return d.core(), nil
}

// CreateAccount stores a and binds its key thumbprint to it in one
// transaction (RFC 8555 §7.3); ErrConflict if the thumbprint or the ID is
// taken. With a.EABKeyID set the same transaction binds that key (see
// store.Accounts.CreateAccount), or refuses with store.ErrEABKeyUnusable.
func (s *Store) CreateAccount(ctx context.Context, a *core.Account) error {
	d := accountToDoc(a)
	val := d.encode()
	var unusable error
	err := s.update(ctx, "CreateAccount", func(tx *bbolt.Tx) error {
		unusable = nil
		if exists(tx, bucketAccountKeys, d.thumbprint) {
			return conflict("key %q is bound to an account", d.thumbprint)
		}
		if exists(tx, bucketAccounts, d.id) {
			return conflict("account %q exists", d.id)
		}
		if a.EABKeyID != "" {
			k, err := bindEABKey(tx, a)
			if errors.Is(err, store.ErrEABKeyUnusable) {
				unusable = err // an outcome: nil to bbolt, nothing written
				return nil
			}
			if err != nil {
				return err
			}
			if err := put(tx, bucketEABKeys, []byte(k.kid), k.encode()); err != nil {
				return err
			}
		}
		if err := put(tx, bucketAccountKeys, []byte(d.thumbprint), []byte(d.id)); err != nil {
			return err
		}
		return put(tx, bucketAccounts, []byte(d.id), val)
	})
	if err == nil && unusable != nil {
		return unusable
	}
	return err
}

// modifyAccount loads a valid account, applies change to it, stores it and
// returns it; ErrConflict (with the current account) if it is not valid.
// check, when set, runs before any write and may refuse with an outcome.
func (s *Store) modifyAccount(ctx context.Context, op, id string, check func(tx *bbolt.Tx, d *accountDoc) error, change func(tx *bbolt.Tx, d *accountDoc) error) (*core.Account, error) {
	var out *core.Account
	err := s.update(ctx, op, func(tx *bbolt.Tx) error {
		out = nil
		var d accountDoc
		if err := load(tx, bucketAccounts, id, &d); err != nil {
			return err
		}
		if d.status != string(core.StatusValid) {
			out = d.core()
			return conflict("account %q is %s", id, d.status)
		}
		if check != nil {
			if err := check(tx, &d); err != nil {
				out = d.core()
				return err
			}
		}
		if err := change(tx, &d); err != nil {
			return err
		}
		if err := put(tx, bucketAccounts, []byte(id), d.encode()); err != nil {
			return err
		}
		out = d.core()
		return nil
	})
	return out, err
}

// UpdateAccountContact replaces a valid account's contacts (RFC 8555 §7.3.2).
func (s *Store) UpdateAccountContact(ctx context.Context, id string, contact []string) (*core.Account, error) {
	contact = slices.Clone(contact)
	return s.modifyAccount(ctx, "UpdateAccountContact", id, nil, func(_ *bbolt.Tx, d *accountDoc) error {
		d.contact = contact
		return nil
	})
}

// DeactivateAccount moves a valid account to deactivated (RFC 8555 §7.3.6).
// Its key stays bound, so the key cannot create a new account.
func (s *Store) DeactivateAccount(ctx context.Context, id string) (*core.Account, error) {
	return s.modifyAccount(ctx, "DeactivateAccount", id, nil, func(_ *bbolt.Tx, d *accountDoc) error {
		d.status = string(core.StatusDeactivated)
		return nil
	})
}

// ChangeAccountKey rebinds a valid account from oldThumbprint to a new key
// (RFC 8555 §7.3.5) in one transaction.
func (s *Store) ChangeAccountKey(ctx context.Context, id, oldThumbprint, newThumbprint string, newKey []byte) (*core.Account, error) {
	newKey = slices.Clone(newKey)
	check := func(tx *bbolt.Tx, d *accountDoc) error {
		if d.thumbprint != oldThumbprint {
			return conflict("account %q is not bound to key %q", id, oldThumbprint)
		}
		if exists(tx, bucketAccountKeys, newThumbprint) {
			return conflict("key %q is bound to an account", newThumbprint)
		}
		return nil
	}
	change := func(tx *bbolt.Tx, d *accountDoc) error {
		if err := del(tx, bucketAccountKeys, []byte(oldThumbprint)); err != nil {
			return err
		}
		if err := put(tx, bucketAccountKeys, []byte(newThumbprint), []byte(id)); err != nil {
			return err
		}
		d.thumbprint, d.key = newThumbprint, newKey
		return nil
	}
	return s.modifyAccount(ctx, "ChangeAccountKey", id, check, change)
}
