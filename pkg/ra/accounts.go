package ra

import (
	"context"
	"errors"
	"fmt"
	"net/mail"
	"strings"

	"github.com/acmera/acmera/pkg/core"
	"github.com/acmera/acmera/pkg/problem"
	"github.com/acmera/acmera/pkg/store"
)

// maxContacts bounds the contacts of one account.
const maxContacts = 10

// NewAccountRequest is a verified newAccount request (RFC 8555 §7.3).
type NewAccountRequest struct {
	Profile string
	// Key is the account's public JWK (JSON) and Thumbprint its RFC 7638
	// thumbprint.
	Key                []byte
	Thumbprint         string
	Contact            []string
	OnlyReturnExisting bool
	// Source is the client's address, the key of the new-accounts rate
	// limit (Config.NewAccountsPerHour).
	Source string
	// EAB is the request's external account binding, nil when it has
	// none (RFC 8555 §7.3.4).
	EAB *EABBinding
}

// KeyInUseError reports that a key is already bound to another account
// (RFC 8555 §7.3.5: 409 Conflict with the account's URL).
type KeyInUseError struct {
	AccountID string
}

func (e *KeyInUseError) Error() string { return "key is already in use by account " + e.AccountID }

// Account returns an account by ID: accountDoesNotExist when absent, and
// unauthorized when it is deactivated (RFC 8555 §7.3.6). It is called for
// every kid-signed request, so the account's status and key are those of
// the store unless this RA caches accounts (see accountCache).
func (r *RA) Account(ctx context.Context, id string) (*core.Account, error) {
	a := r.accounts.get(id, r.now())
	if a == nil {
		epoch := r.accounts.begin()
		var err error
		a, err = r.store.GetAccount(ctx, id)
		if errors.Is(err, store.ErrNotFound) {
			return nil, problem.New(problem.AccountDoesNotExist, "no account %q", id).WithStatus(400)
		}
		if err != nil {
			return nil, fmt.Errorf("store.GetAccount: %w", err)
		}
		r.accounts.put(a, epoch, r.now())
	}
	if a.Status != core.StatusValid {
		return nil, problem.AccountDeactivatedf("account is %s", a.Status)
	}
	return a, nil
}

// NewAccount creates an account for a key, or returns the one the key is
// already bound to (created false). Of two racing requests with one key,
// exactly one creates. A request with an external account binding creates
// an account bound to that key, or nothing (RFC 8555 §7.3.4); a profile
// with requireEAB creates no account without one. A known key gets its
// account and binds nothing, so no request binds a key twice.
func (r *RA) NewAccount(ctx context.Context, req NewAccountRequest) (*core.Account, bool, error) {
	pr, err := r.profile(req.Profile)
	if err != nil {
		return nil, false, err
	}
	if req.OnlyReturnExisting {
		existing, err := r.existing(ctx, req.Thumbprint)
		if existing == nil && err == nil {
			err = problem.New(problem.AccountDoesNotExist, "no account exists with this key")
		}
		return existing, false, err
	}
	var eab *core.EABKey
	switch {
	case req.EAB != nil:
		if eab, err = r.checkEAB(ctx, req.EAB, req.Profile); err != nil {
			return nil, false, err
		}
	case pr.RequireEAB:
		if existing, err := r.existing(ctx, req.Thumbprint); existing != nil || err != nil {
			return existing, false, err
		}
		return nil, false, problem.New(problem.ExternalAccountRequired,
			"profile %q requires an external account binding: send externalAccountBinding with an EAB key of this profile (certbot: --eab-kid and --eab-hmac-key)", req.Profile)
	}
	// Create first and look up only on conflict: a new account costs no
	// read, and the key binding settles races either way.
	contact, err := checkContacts(req.Contact)
	if err != nil {
		// RFC 8555 §7.3.1: a known key gets its account whatever the payload.
		if existing, xerr := r.existing(ctx, req.Thumbprint); existing != nil || xerr != nil {
			return existing, false, xerr
		}
		return nil, false, err
	}
	now := r.now()
	spent, err := r.spendNewAccount(ctx, req.Source, now)
	if p, limited := problem.Of(err); limited && p.Type == problem.RateLimited {
		// A known key still gets its account (RFC 8555 §7.3.1): that
		// creates nothing, so it costs a read only when limited.
		if existing, err := r.existing(ctx, req.Thumbprint); existing != nil || err != nil {
			return existing, false, err
		}
	}
	if err != nil {
		return nil, false, err
	}
	epoch := r.accounts.begin()
	a := &core.Account{
		ID: core.NewID(), KeyThumbprint: req.Thumbprint, Key: req.Key, Contact: contact,
		Status: core.StatusValid, CreatedAt: r.now(), Profile: req.Profile,
	}
	if eab != nil {
		a.EABKeyID = eab.KID
	}
	if err := r.store.CreateAccount(ctx, a); err != nil {
		r.refund(ctx, spent, 1, now) // nothing was created
		if errors.Is(err, store.ErrEABKeyUnusable) {
			r.log.InfoContext(ctx, "EAB key refused", "event", "eab.refuse", "eab_kid", eab.KID, "profile", a.Profile, "reason", err.Error())
			return nil, false, unusableEAB(eab, a.CreatedAt)
		}
		if errors.Is(err, store.ErrConflict) {
			existing, err := r.existing(ctx, req.Thumbprint)
			if existing == nil && err == nil {
				err = fmt.Errorf("store.CreateAccount: conflict but no account for the key")
			}
			return existing, false, err
		}
		return nil, false, fmt.Errorf("store.CreateAccount: %w", err)
	}
	r.accounts.put(a, epoch, r.now())
	r.log.InfoContext(ctx, "account created", "event", "account.create", "account", a.ID, "profile", a.Profile, "eab_kid", a.EABKeyID)
	if eab != nil {
		r.log.InfoContext(ctx, "account bound to EAB key", "event", "eab.bind", "account", a.ID, "eab_kid", eab.KID,
			"profile", a.Profile, "reusable", eab.Reusable, "uses", eab.Uses+1)
	}
	return a, true, nil
}

// existing returns the account bound to thumbprint, nil when none, and an
// unauthorized problem when it is deactivated.
func (r *RA) existing(ctx context.Context, thumbprint string) (*core.Account, error) {
	a, err := r.store.GetAccountByKey(ctx, thumbprint)
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("store.GetAccountByKey: %w", err)
	}
	if a.Status != core.StatusValid {
		return nil, problem.AccountDeactivatedf("the account of this key is %s", a.Status)
	}
	return a, nil
}

// AccountByKey returns the valid account bound to a JWK thumbprint, for
// revocation requests signed with an account's key by jwk.
func (r *RA) AccountByKey(ctx context.Context, thumbprint string) (*core.Account, error) {
	return r.existing(ctx, thumbprint)
}

// checkContacts accepts only mailto: URLs with one plain address each
// (RFC 8555 §7.3: unsupportedContact / invalidContact) and returns them
// normalized: white space around the URL and after the scheme is dropped
// (getssl sends "mailto: user@example.com") and the scheme lower-cased
// (RFC 3986 §3.1).
func checkContacts(contact []string) ([]string, error) {
	if len(contact) > maxContacts {
		return nil, problem.New(problem.InvalidContact, "at most %d contacts are allowed, got %d", maxContacts, len(contact))
	}
	out := make([]string, 0, len(contact))
	for _, c := range contact {
		c = strings.TrimSpace(c)
		const scheme = "mailto:"
		if len(c) < len(scheme) || !strings.EqualFold(c[:len(scheme)], scheme) {
			return nil, problem.New(problem.UnsupportedContact, "contact %q is not supported; only mailto: URLs are", problem.Truncate(c, 64))
		}
		addr := strings.TrimSpace(c[len(scheme):])
		if len(addr) > 254 {
			return nil, problem.New(problem.InvalidContact, "contact %q is too long: %d characters, at most 254 (RFC 5321)", problem.Truncate(c, 64), len(addr))
		}
		if strings.ContainsAny(addr, "?,;") {
			return nil, problem.New(problem.InvalidContact, "contact %q must name exactly one e-mail address with no header fields", problem.Truncate(c, 64))
		}
		parsed, err := mail.ParseAddress(addr)
		if err != nil || parsed.Address != addr || parsed.Name != "" {
			return nil, problem.New(problem.InvalidContact, "contact %q is not a valid e-mail address", problem.Truncate(c, 64))
		}
		at := strings.LastIndexByte(addr, '@')
		if at < 1 || !strings.Contains(addr[at+1:], ".") {
			return nil, problem.New(problem.InvalidContact, "contact %q has no domain with a dot", problem.Truncate(c, 64))
		}
		out = append(out, scheme+addr)
	}
	return out, nil
}

// UpdateAccount replaces an account's contacts (RFC 8555 §7.3.2).
func (r *RA) UpdateAccount(ctx context.Context, acct *core.Account, contact []string) (*core.Account, error) {
	c, err := checkContacts(contact)
	if err != nil {
		return nil, err
	}
	a, err := r.store.UpdateAccountContact(ctx, acct.ID, c)
	r.accounts.evict(acct.ID) // after the write, whatever its outcome
	if errors.Is(err, store.ErrConflict) {
		return nil, problem.AccountDeactivatedf("account is no longer valid: it was deactivated")
	}
	if err != nil {
		return nil, fmt.Errorf("store.UpdateAccountContact: %w", err)
	}
	return a, nil
}

// DeactivateAccount deactivates an account (RFC 8555 §7.3.6).
func (r *RA) DeactivateAccount(ctx context.Context, acct *core.Account) (*core.Account, error) {
	a, err := r.store.DeactivateAccount(ctx, acct.ID)
	r.accounts.evict(acct.ID) // after the write, whatever its outcome
	if errors.Is(err, store.ErrConflict) {
		return nil, problem.AccountDeactivatedf("account is no longer valid: it was deactivated")
	}
	if err != nil {
		return nil, fmt.Errorf("store.DeactivateAccount: %w", err)
	}
	r.log.InfoContext(ctx, "account deactivated", "event", "account.deactivate", "account", a.ID)
	return a, nil
}

// ChangeKey rebinds an account to a new key (RFC 8555 §7.3.5). The caller
// has verified both signatures and that the inner JWS names the account and
// its current key.
func (r *RA) ChangeKey(ctx context.Context, acct *core.Account, newKey []byte, newThumbprint string) (*core.Account, error) {
	a, err := r.store.ChangeAccountKey(ctx, acct.ID, acct.KeyThumbprint, newThumbprint, newKey)
	r.accounts.evict(acct.ID) // after the write, whatever its outcome
	if errors.Is(err, store.ErrConflict) {
		if other, gerr := r.store.GetAccountByKey(ctx, newThumbprint); gerr == nil {
			return nil, &KeyInUseError{AccountID: other.ID}
		}
		return nil, problem.Unauthorizedf("the account's key changed concurrently; retry")
	}
	if err != nil {
		return nil, fmt.Errorf("store.ChangeAccountKey: %w", err)
	}
	r.log.InfoContext(ctx, "account key changed", "event", "account.keychange", "account", a.ID)
	return a, nil
}
