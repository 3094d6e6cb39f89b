package ca

import (
	"context"
	"errors"
	"fmt"
	"slices"
)

// Backend is one named CA backend of a deployment.
type Backend struct {
	// Name is how profiles and orders refer to it ("local", "cas", or a
	// name from the configuration's backends).
	Name string
	// Description says which CA it is, for the directory's meta.profiles
	// (e.g. "HashiCorp Vault, mount pki_int"); never a secret.
	Description string
	Issuer      Issuer
}

// Backends is a deployment's set of CA backends. Each profile picks one by
// name (the default when it names none), and an order remembers the name
// it was created with, so its finalize retries and its certificate's
// revocation go back to the same CA.
type Backends struct {
	byName map[string]Backend
	def    string
	names  []string
}

// NewBackends returns the set, with def the backend of profiles that name
// none. Names must be unique and non-empty, and def one of them.
func NewBackends(def string, backends ...Backend) (*Backends, error) {
	b := &Backends{byName: make(map[string]Backend, len(backends)), def: def}
	for _, be := range backends {
		switch {
		case be.Name == "":
			return nil, errors.New("ca: a backend has no name")
		case be.Issuer == nil:
			return nil, fmt.Errorf("ca: backend %q has no issuer", be.Name)
		}
		if _, dup := b.byName[be.Name]; dup {
			return nil, fmt.Errorf("ca: backend %q is defined twice", be.Name)
		}
		b.byName[be.Name] = be
		b.names = append(b.names, be.Name)
	}
	if _, ok := b.byName[def]; !ok {
		return nil, fmt.Errorf("ca: the default backend %q is not defined", def)
	}
	slices.Sort(b.names)
	return b, nil
}

// Single is a set of one backend, the default.
func Single(name string, i Issuer) *Backends {
	b, err := NewBackends(name, Backend{Name: name, Issuer: i})
	if err != nil {
		panic(err) // only for an empty name or nil issuer: a programming error
	}
	return b
}

// Default is the name of the default backend.
func (b *Backends) Default() string { return b.def }

// Names lists the backends, sorted.
func (b *Backends) Names() []string { return slices.Clone(b.names) }

// Get returns the named backend; "" is the default (orders stored before
// backends had names).
func (b *Backends) Get(name string) (Backend, error) {
	if name == "" {
		name = b.def
	}
	be, ok := b.byName[name]
	if !ok {
		return Backend{}, fmt.Errorf("ca: no backend named %q is configured (it was when the order was created): %w", name, ErrMisconfigured)
	}
	return be, nil
}

// Roots returns the root certificates of every backend, each once.
func (b *Backends) Roots(ctx context.Context) ([][]byte, error) {
	var out [][]byte
	seen := map[string]bool{}
	for _, name := range b.names {
		roots, err := b.byName[name].Issuer.Roots(ctx)
		if err != nil {
			return nil, fmt.Errorf("backend %q: %w", name, err)
		}
		for _, r := range roots {
			if !seen[string(r)] {
				seen[string(r)] = true
				out = append(out, r)
			}
		}
	}
	return out, nil
}
