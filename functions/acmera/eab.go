package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"path/filepath"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"go.etcd.io/bbolt"

	"github.com/acmera/acmera/pkg/config"
	"github.com/acmera/acmera/pkg/core"
	"github.com/acmera/acmera/pkg/policy"
	"github.com/acmera/acmera/pkg/store"
	"github.com/acmera/acmera/pkg/store/bolt"
	"github.com/acmera/acmera/pkg/store/firestore"
)

// usage is the text of `acmera help`.
const usage = `Usage: acmera [command]

Modes (no command):
  FUNCTION_TARGET unset    the embedded default: the whole RA over HTTPS on
                           ACMERA_ADDR, data in ACMERA_DATA_DIR
  FUNCTION_TARGET=ACME     the ACME API function on $PORT (Cloud Run)
  FUNCTION_TARGET=Validate the validator function on $PORT (Cloud Tasks target)

Commands:
  eab create --profile P [--allow NAME|*.ZONE|IP|CIDR]... [--challenges http-01,dns-01]
             [--max-lifetime 48h] [--expires 720h] [--reusable]
                           create an external account binding key; prints
                           {"kid":...,"hmac":...} once: the only time the
                           secret is shown
  eab list [--json]        list the EAB keys, without secrets: a table on a
                           terminal, JSON lines otherwise or with --json
  eab revoke KID           revoke an EAB key: it binds no more accounts and
                           its accounts may place no more orders
  admin certs [--name N] [--account A] [--serial S] [--expiring-within 48h]
              [--revoked] [--limit 100] [--json]
                           list or search certificates, newest first
  admin revoke SERIAL --reason keyCompromise|superseded|unspecified|
              affiliationChanged|cessationOfOperation|privilegeWithdrawn
                           revoke through the RA and the CA backend, audited
                           with ACMERA_ADMIN_ACTOR or the OS user
  admin accounts [--limit 100] [--json]
                           list the newest accounts
  admin deactivate ACCOUNT_ID
                           deactivate an account (audited as above)
  admin stuck [--json]     list challenges and orders left processing
  version                  print the version (also --version)
  help                     this text

The eab and admin commands read the same environment as the server. Tables
on a terminal, JSON lines otherwise or with --json. Embedded: they
use the running server's admin socket ($ACMERA_DATA_DIR/admin.sock), or open
the bbolt file when no server runs. Cloud (FUNCTION_TARGET, ACMERA_CAS_POOL
or ACMERA_TASKS_QUEUE set): they use Firestore directly
(GOOGLE_CLOUD_PROJECT, ACMERA_FIRESTORE_DATABASE, FIRESTORE_EMULATOR_HOST).
`

// eabLockTimeout bounds the wait for the bbolt file when no server answers
// on the admin socket.
const eabLockTimeout = time.Second

// eabHMACBytes is the size of a new key's secret: 256 bits.
const eabHMACBytes = 32

// runEAB runs `acmera eab ...`.
func runEAB(ctx context.Context, args []string, env func(string) string, stdout io.Writer) error {
	if len(args) == 0 {
		return errors.New("eab: missing subcommand: create, list or revoke (see acmera help)")
	}
	switch args[0] {
	case "create":
		return eabCreate(ctx, args[1:], env, stdout)
	case "list":
		asJSON := !isTerminal(stdout)
		for _, a := range args[1:] {
			if a != "--json" {
				return fmt.Errorf("eab list: unexpected argument %q (only --json)", a)
			}
			asJSON = true
		}
		return withEABKeys(ctx, env, func(_ *policy.Policy, keys store.EABKeys) error { return eabList(ctx, keys, stdout, asJSON) })
	case "revoke":
		if len(args) != 2 {
			return errors.New("eab revoke: want exactly one KID")
		}
		return withEABKeys(ctx, env, func(_ *policy.Policy, keys store.EABKeys) error { return eabRevoke(ctx, keys, args[1], stdout) })
	}
	return fmt.Errorf("eab: unknown subcommand %q: create, list or revoke (see acmera help)", args[0])
}

// eabSpec is what `eab create` asks for.
type eabSpec struct {
	profile              string
	allow                []string
	challenges           string
	maxLifetime, expires time.Duration
	reusable             bool
}

func parseCreate(args []string) (*eabSpec, error) {
	var s eabSpec
	fs := flag.NewFlagSet("eab create", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.StringVar(&s.profile, "profile", "", "the profile whose newAccount accepts the key")
	fs.Func("allow", "an allowed DNS name, *.zone, IP address or CIDR range (repeatable)", func(v string) error {
		s.allow = append(s.allow, v)
		return nil
	})
	fs.StringVar(&s.challenges, "challenges", "", "comma-separated allowed challenge types")
	fs.DurationVar(&s.maxLifetime, "max-lifetime", 0, "maximum certificate lifetime")
	fs.DurationVar(&s.expires, "expires", 0, "how long the key may bind accounts (0: no expiry)")
	fs.BoolVar(&s.reusable, "reusable", false, "bind any number of accounts, not one")
	if err := fs.Parse(args); err != nil {
		return nil, fmt.Errorf("eab create: %w", err)
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("eab create: unexpected arguments %q", fs.Args())
	}
	if s.profile == "" {
		return nil, errors.New("eab create: --profile is required")
	}
	if s.maxLifetime < 0 || s.expires < 0 {
		return nil, errors.New("eab create: --max-lifetime and --expires must not be negative")
	}
	return &s, nil
}

// newEABKey builds the key of spec for profile pr, with a random kid and
// secret.
func newEABKey(s *eabSpec, pr *policy.Profile, now time.Time) (*core.EABKey, error) {
	allow, err := policy.ParseAllow(s.allow)
	if err != nil {
		return nil, fmt.Errorf("eab create: --allow: %w", err)
	}
	var chs []string
	if s.challenges != "" {
		if chs, err = policy.ParseChallenges(strings.Split(s.challenges, ",")); err != nil {
			return nil, fmt.Errorf("eab create: --challenges: %w", err)
		}
		for _, c := range chs {
			if !pr.AllowsChallenge(c) {
				return nil, fmt.Errorf("eab create: --challenges: profile %q does not offer %s", s.profile, c)
			}
		}
	}
	if s.maxLifetime > time.Duration(pr.MaxLifetime) {
		return nil, fmt.Errorf("eab create: --max-lifetime %v exceeds profile %q's maxLifetime %v", s.maxLifetime, s.profile, time.Duration(pr.MaxLifetime))
	}
	// Neither the kid nor the secret may start with "-" in base64url:
	// certbot's and lego's flag parsers would take "--eab-hmac-key -x…" for
	// two flags. Redrawing costs under a bit of the secret's 256.
	var secret []byte
	kid := core.NewID()
	for i := 0; ; i++ {
		if i == 64 {
			return nil, errors.New("eab create: could not draw a key whose encoding does not start with '-'")
		}
		secret = make([]byte, eabHMACBytes)
		if _, err := rand.Read(secret); err != nil {
			return nil, fmt.Errorf("crypto/rand: %w", err)
		}
		if !strings.HasPrefix(kid, "-") && !strings.HasPrefix(base64.RawURLEncoding.EncodeToString(secret), "-") {
			break
		}
		kid = core.NewID()
	}
	k := &core.EABKey{KID: kid, Profile: s.profile, HMAC: secret, Reusable: s.reusable,
		CreatedAt: now, Allow: allow, Challenges: chs, MaxLifetime: s.maxLifetime}
	if s.expires > 0 {
		k.Expires = now.Add(s.expires)
	}
	return k, nil
}

func eabCreate(ctx context.Context, args []string, env func(string) string, stdout io.Writer) error {
	spec, err := parseCreate(args)
	if err != nil {
		return err
	}
	return withEABKeys(ctx, env, func(pol *policy.Policy, keys store.EABKeys) error {
		pr := pol.Profile(spec.profile)
		if pr == nil {
			return fmt.Errorf("eab create: no profile %q is configured (profiles: %s)", spec.profile, strings.Join(pol.Names(), ", "))
		}
		k, err := newEABKey(spec, pr, time.Now())
		if err != nil {
			return err
		}
		if err := keys.CreateEABKey(ctx, k); err != nil {
			return fmt.Errorf("CreateEABKey: %w", err)
		}
		return writeJSONLine(stdout, struct {
			KID  string `json:"kid"`
			HMAC string `json:"hmac"`
		}{k.KID, base64.RawURLEncoding.EncodeToString(k.HMAC)})
	})
}

// eabListing is a key as `eab list` and `eab revoke` print it: never the
// secret.
type eabListing struct {
	KID         string     `json:"kid"`
	Profile     string     `json:"profile"`
	Allow       []string   `json:"allow,omitempty"`
	Challenges  []string   `json:"challenges,omitempty"`
	MaxLifetime string     `json:"maxLifetime,omitempty"`
	Expires     *time.Time `json:"expires,omitempty"`
	Reusable    bool       `json:"reusable"`
	Uses        int        `json:"uses"`
	Revoked     bool       `json:"revoked"`
	RevokedAt   *time.Time `json:"revokedAt,omitempty"`
	CreatedAt   time.Time  `json:"createdAt"`
}

func listing(k *core.EABKey) eabListing {
	l := eabListing{KID: k.KID, Profile: k.Profile, Allow: k.Allow, Challenges: k.Challenges,
		Reusable: k.Reusable, Uses: k.Uses, Revoked: k.Revoked(), CreatedAt: k.CreatedAt.UTC()}
	if k.MaxLifetime > 0 {
		l.MaxLifetime = k.MaxLifetime.String()
	}
	if !k.Expires.IsZero() {
		t := k.Expires.UTC()
		l.Expires = &t
	}
	if k.Revoked() {
		t := k.RevokedAt.UTC()
		l.RevokedAt = &t
	}
	return l
}

func eabList(ctx context.Context, keys store.EABKeys, stdout io.Writer, asJSON bool) error {
	list, err := keys.ListEABKeys(ctx)
	if err != nil {
		return fmt.Errorf("ListEABKeys: %w", err)
	}
	if !asJSON {
		ls := make([]eabListing, len(list))
		for i, k := range list {
			ls[i] = listing(k)
		}
		return eabTable(tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0), ls)
	}
	for _, k := range list {
		if err := writeJSONLine(stdout, listing(k)); err != nil {
			return err
		}
	}
	return nil
}

func eabRevoke(ctx context.Context, keys store.EABKeys, kid string, stdout io.Writer) error {
	k, err := keys.RevokeEABKey(ctx, kid, time.Now())
	switch {
	case errors.Is(err, store.ErrNotFound):
		return fmt.Errorf("eab revoke: no EAB key %q", kid)
	case errors.Is(err, store.ErrConflict):
		return fmt.Errorf("eab revoke: EAB key %q is already revoked", kid)
	case err != nil:
		return fmt.Errorf("RevokeEABKey: %w", err)
	}
	return writeJSONLine(stdout, listing(k))
}

func writeJSONLine(w io.Writer, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("json.Marshal: %w", err)
	}
	if _, err := fmt.Fprintf(w, "%s\n", b); err != nil {
		return fmt.Errorf("write: %w", err)
	}
	return nil
}

// cloudMode reports whether the environment is the cloud stack's, by the
// same settings run uses to pick the mode.
func cloudMode(env func(string) string) bool {
	return env("FUNCTION_TARGET") != "" || env("ACMERA_CAS_POOL") != "" || env("ACMERA_TASKS_QUEUE") != ""
}

// withEABKeys runs fn with the configured policy and the EAB keys of the
// store the server of this environment uses: Firestore in the cloud; in
// the embedded default the running server's admin socket, or the bbolt
// file when no server runs.
func withEABKeys(ctx context.Context, env func(string) string, fn func(*policy.Policy, store.EABKeys) error) error {
	if cloudMode(env) {
		cfg, err := config.ReadCloud(env)
		if err != nil {
			return err
		}
		st, err := firestore.New(ctx, firestore.Config{ProjectID: cfg.ProjectID, DatabaseID: cfg.FirestoreDatabase,
			EmulatorHost: env("FIRESTORE_EMULATOR_HOST")})
		if err != nil {
			return fmt.Errorf("firestore.New: %w", err)
		}
		defer st.Close()
		return fn(cfg.Policy, st)
	}
	cfg, err := config.ReadEmbedded(env)
	if err != nil {
		return err
	}
	sock := filepath.Join(cfg.DataDir, adminSocketName)
	if c := dialAdmin(sock); c != nil {
		return fn(cfg.Policy, c)
	}
	path := filepath.Join(cfg.DataDir, "acmera.db")
	st, err := bolt.Open(path, bolt.WithLockTimeout(eabLockTimeout))
	if errors.Is(err, bbolt.ErrTimeout) {
		return fmt.Errorf("%s is locked by another process and no acmera answers on %s; is a server of another version running?", path, sock)
	}
	if err != nil {
		return fmt.Errorf("bolt.Open: %w", err)
	}
	defer st.Close()
	return fn(cfg.Policy, st)
}

// isHelp reports whether arg asks for the usage text.
func isHelp(arg string) bool {
	return slices.Contains([]string{"help", "-h", "-help", "--help"}, arg)
}
