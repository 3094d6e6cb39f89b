package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os/user"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"go.etcd.io/bbolt"

	acmefn "github.com/acmera/acmera/functions/acme"
	"github.com/acmera/acmera/pkg/ca"
	"github.com/acmera/acmera/pkg/ca/local"
	"github.com/acmera/acmera/pkg/certpem"
	"github.com/acmera/acmera/pkg/config"
	"github.com/acmera/acmera/pkg/core"
	"github.com/acmera/acmera/pkg/logging"
	"github.com/acmera/acmera/pkg/ra"
	"github.com/acmera/acmera/pkg/store"
	"github.com/acmera/acmera/pkg/store/bolt"
	"github.com/acmera/acmera/pkg/store/firestore"
)

// adminDefaultLimit is the --limit of the admin listings.
const adminDefaultLimit = 100

// runAdmin runs `acmera admin ...`: the operator's listings and
// transitions, on the store of the environment as `acmera eab` finds it.
func runAdmin(ctx context.Context, args []string, env func(string) string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return errors.New("admin: missing subcommand: certs, revoke, accounts, deactivate or stuck (see acmera help)")
	}
	fs := flag.NewFlagSet("admin "+args[0], flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	asJSON := fs.Bool("json", false, "JSON lines even on a terminal")
	limit := fs.Int("limit", adminDefaultLimit, "the most rows listed")
	var run func(ctx context.Context, ops operator, out *printer) error
	switch args[0] {
	case "certs":
		f := store.CertificateFilter{}
		fs.StringVar(&f.Name, "name", "", "a DNS name or IP address of the certificate")
		fs.StringVar(&f.AccountID, "account", "", "the issuing account's ID")
		fs.StringVar(&f.Serial, "serial", "", "the serial, hex")
		fs.BoolVar(&f.Revoked, "revoked", false, "revoked certificates only")
		within := fs.Duration("expiring-within", 0, "unrevoked certificates expiring within this duration")
		run = func(ctx context.Context, ops operator, out *printer) error {
			f.Limit, f.Serial = *limit, normSerial(f.Serial)
			if *within > 0 {
				f.Now = time.Now()
				f.ExpiringBefore = f.Now.Add(*within)
			}
			list, err := ops.ListCertificates(ctx, f)
			if err != nil {
				return fmt.Errorf("ListCertificates: %w", err)
			}
			return out.certs(list)
		}
	case "accounts":
		run = func(ctx context.Context, ops operator, out *printer) error {
			list, err := ops.ListAccounts(ctx, *limit)
			if err != nil {
				return fmt.Errorf("ListAccounts: %w", err)
			}
			return out.accounts(list)
		}
	case "stuck":
		run = func(ctx context.Context, ops operator, out *printer) error {
			s, err := ops.Stuck(ctx)
			if err != nil {
				return err
			}
			return out.stuck(s)
		}
	case "revoke":
		reason := fs.String("reason", "", "the RFC 5280 reason: unspecified, keyCompromise, superseded, ...")
		run = func(ctx context.Context, ops operator, out *printer) error {
			if fs.NArg() != 1 {
				return errors.New("admin revoke: want exactly one SERIAL")
			}
			code, err := ra.ReasonCode(*reason)
			if err != nil {
				return fmt.Errorf("admin revoke: --reason: %w", err)
			}
			c, err := ops.Revoke(ctx, ra.AdminRevokeRequest{Serial: normSerial(fs.Arg(0)), Reason: code, Actor: adminActor(env)})
			if err != nil {
				return fmt.Errorf("admin revoke %s: %w", fs.Arg(0), err)
			}
			return out.certs([]*core.Certificate{c})
		}
	case "deactivate":
		run = func(ctx context.Context, ops operator, out *printer) error {
			if fs.NArg() != 1 {
				return errors.New("admin deactivate: want exactly one ACCOUNT_ID")
			}
			a, err := ops.Deactivate(ctx, fs.Arg(0), adminActor(env))
			if err != nil {
				return fmt.Errorf("admin deactivate %s: %w", fs.Arg(0), err)
			}
			return out.accounts([]*core.Account{a})
		}
	default:
		return fmt.Errorf("admin: unknown subcommand %q: certs, revoke, accounts, deactivate or stuck (see acmera help)", args[0])
	}
	pos, err := parseInterspersed(fs, args[1:])
	if err != nil {
		return fmt.Errorf("admin %s: %w", args[0], err)
	}
	if want := map[string]int{"revoke": 1, "deactivate": 1}[args[0]]; len(pos) > want {
		return fmt.Errorf("admin %s: unexpected arguments %q", args[0], pos[want:])
	}
	if len(pos) > 0 {
		_ = fs.Parse(append([]string{"--"}, pos...)) // positional arguments as fs.Args
	}
	if *limit < 1 || *limit > store.MaxListLimit {
		return fmt.Errorf("admin %s: --limit %d: want 1 to %d", args[0], *limit, store.MaxListLimit)
	}
	out := &printer{w: stdout, json: *asJSON || !isTerminal(stdout)}
	return withOperator(ctx, env, stderr, func(ops operator) error { return run(ctx, ops, out) })
}

// parseInterspersed parses args with fs, flags before and after the
// positional arguments (`admin revoke SERIAL --reason R`), which it
// returns.
func parseInterspersed(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for range len(args) + 1 {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		if fs.NArg() == 0 {
			return pos, nil
		}
		pos, args = append(pos, fs.Arg(0)), fs.Args()[1:]
	}
	return pos, nil
}

// normSerial is a serial as the stores keep it (core.Certificate.Serial):
// lower-case hex without leading zeros or colons.
func normSerial(s string) string {
	s = strings.ToLower(strings.ReplaceAll(s, ":", ""))
	if t := strings.TrimLeft(s, "0"); t != "" || s == "" {
		return t
	}
	return "0"
}

// adminActor names the operator in audit events: ACMERA_ADMIN_ACTOR, else
// the OS user running the command.
func adminActor(env func(string) string) string {
	if a := env("ACMERA_ADMIN_ACTOR"); a != "" {
		return a
	}
	if u, err := user.Current(); err == nil && u.Username != "" {
		return "os:" + u.Username
	}
	return "os:unknown"
}

// withOperator runs fn with the operator of this environment's store:
// Firestore in the cloud; in the embedded default the running server's
// admin socket, or the bbolt file when no server runs. Revocation and
// deactivation build the RA with the environment's CA backends (the local
// CA in the data directory, or CAS): the CA revokes, not just the store.
// Audit events go to stderr as JSON.
func withOperator(ctx context.Context, env func(string) string, stderr io.Writer, fn func(operator) error) error {
	if cloudMode(env) {
		return withCloudOperator(ctx, env, stderr, fn)
	}
	cfg, err := config.ReadEmbedded(env)
	if err != nil {
		return err
	}
	sock := filepath.Join(cfg.DataDir, adminSocketName)
	if c := dialAdmin(sock); c != nil {
		return fn(c)
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
	log := logging.New(stderr, logLevel(cfg.LogLevel), "")
	var closeBackends func()
	defer func() {
		if closeBackends != nil {
			closeBackends()
		}
	}()
	return fn(&raOperator{lister: st, rec: st, newRA: func() (*ra.RA, error) {
		issuer, err := local.Open(ctx, local.Config{Dir: cfg.DataDir})
		if err != nil {
			return nil, fmt.Errorf("local.Open: %w", err)
		}
		backends, cl, err := buildBackends(ctx, cfg.Common, ca.Backend{Name: config.BackendLocal, Description: "acmera's local CA", Issuer: issuer}, log)
		if err != nil {
			return nil, err
		}
		closeBackends = cl
		return commandRA(acmefn.Parts{Store: st, Backends: backends, Policy: cfg.Policy, Logger: log}, cfg.Common, log)
	}})
}

// withCloudOperator is withOperator's cloud case: the listings read
// Firestore; the RA, built on first use, has the functions' backends.
func withCloudOperator(ctx context.Context, env func(string) string, stderr io.Writer, fn func(operator) error) error {
	cfg, err := config.ReadCloud(env)
	if err != nil {
		return err
	}
	log := logging.New(stderr, logLevel(cfg.LogLevel), cfg.ProjectID)
	st, err := firestore.New(ctx, firestore.Config{ProjectID: cfg.ProjectID, DatabaseID: cfg.FirestoreDatabase,
		EmulatorHost: env("FIRESTORE_EMULATOR_HOST")})
	if err != nil {
		return fmt.Errorf("firestore.New: %w", err)
	}
	defer st.Close()
	var closeParts func()
	defer func() {
		if closeParts != nil {
			closeParts()
		}
	}()
	return fn(&raOperator{lister: st, rec: st, newRA: func() (*ra.RA, error) {
		parts, cl, err := cloudParts(ctx, cfg, env("FIRESTORE_EMULATOR_HOST"), log)
		if err != nil {
			return nil, err
		}
		closeParts = cl
		return acmefn.NewRA(parts)
	}})
}

// commandRA is the RA of a command: no queue (commandQueue), the
// environment's validator (never called).
func commandRA(p acmefn.Parts, c config.Common, log *slog.Logger) (*ra.RA, error) {
	v, err := newValidator(c, true, log)
	if err != nil {
		return nil, err
	}
	p.Queue, p.Validator = commandQueue{}, v
	return acmefn.NewRA(p)
}

// printer writes the admin commands' rows: JSON lines, or a table.
type printer struct {
	w    io.Writer
	json bool
}

// certListing is a certificate as `admin certs` prints it: never its
// chain.
type certListing struct {
	Serial    string     `json:"serial"`
	Names     []string   `json:"names"`
	Account   string     `json:"account"`
	Profile   string     `json:"profile"`
	Status    string     `json:"status"`
	NotBefore time.Time  `json:"notBefore"`
	NotAfter  time.Time  `json:"notAfter"`
	RevokedAt *time.Time `json:"revokedAt,omitempty"`
	Reason    *int       `json:"revocationReason,omitempty"`
	Backend   string     `json:"backend,omitempty"`
	Order     string     `json:"order"`
	CreatedAt time.Time  `json:"createdAt"`
}

func certRow(c *core.Certificate) certListing {
	l := certListing{Serial: c.Serial, Names: certpem.LeafNames(c.Chain), Account: c.AccountID, Profile: c.Profile,
		Status: string(c.Status), NotBefore: c.NotBefore.UTC(), NotAfter: c.NotAfter.UTC(), Backend: c.Backend,
		Order: c.OrderID, CreatedAt: c.CreatedAt.UTC()}
	if c.Status == core.StatusRevoked {
		t, r := c.RevokedAt.UTC(), c.RevocationReason
		l.RevokedAt, l.Reason = &t, &r
	}
	return l
}

func (p *printer) certs(list []*core.Certificate) error {
	if p.json {
		for _, c := range list {
			if err := writeJSONLine(p.w, certRow(c)); err != nil {
				return err
			}
		}
		return nil
	}
	tw := tabwriter.NewWriter(p.w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "SERIAL\tNAMES\tACCOUNT\tPROFILE\tSTATUS\tNOT AFTER\tISSUED")
	for _, c := range list {
		l := certRow(c)
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", l.Serial, strings.Join(l.Names, ","), l.Account, l.Profile,
			l.Status, l.NotAfter.Format(time.DateTime), l.CreatedAt.Format(time.DateTime))
	}
	return flushTable(tw)
}

// accountListing is an account as `admin accounts` prints it: no key.
type accountListing struct {
	ID        string    `json:"id"`
	Status    string    `json:"status"`
	Profile   string    `json:"profile"`
	Contact   []string  `json:"contact,omitempty"`
	EABKeyID  string    `json:"eabKid,omitempty"`
	CreatedAt time.Time `json:"createdAt"`
}

func (p *printer) accounts(list []*core.Account) error {
	rows := make([]accountListing, len(list))
	for i, a := range list {
		rows[i] = accountListing{ID: a.ID, Status: string(a.Status), Profile: a.Profile, Contact: a.Contact,
			EABKeyID: a.EABKeyID, CreatedAt: a.CreatedAt.UTC()}
	}
	if p.json {
		for _, r := range rows {
			if err := writeJSONLine(p.w, r); err != nil {
				return err
			}
		}
		return nil
	}
	tw := tabwriter.NewWriter(p.w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tSTATUS\tPROFILE\tEAB KID\tCREATED\tCONTACT")
	for _, r := range rows {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", r.ID, r.Status, r.Profile, r.EABKeyID,
			r.CreatedAt.Format(time.DateTime), strings.Join(r.Contact, ","))
	}
	return flushTable(tw)
}

// stuckListing is one item of `admin stuck`.
type stuckListing struct {
	Kind        string `json:"kind"` // "challenge" or "order"
	Order       string `json:"order,omitempty"`
	Authz       string `json:"authorization,omitempty"`
	ChallengeID string `json:"challenge,omitempty"`
}

func (p *printer) stuck(s *stuckWork) error {
	var rows []stuckListing
	for _, c := range s.Challenges {
		rows = append(rows, stuckListing{Kind: "challenge", Authz: c[0], ChallengeID: c[1]})
	}
	for _, o := range s.Orders {
		rows = append(rows, stuckListing{Kind: "order", Order: o})
	}
	if p.json {
		for _, r := range rows {
			if err := writeJSONLine(p.w, r); err != nil {
				return err
			}
		}
		return nil
	}
	tw := tabwriter.NewWriter(p.w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "KIND\tID")
	for _, r := range rows {
		id := r.Order
		if r.Kind == "challenge" {
			id = r.Authz + "/" + r.ChallengeID
		}
		fmt.Fprintf(tw, "%s\t%s\n", r.Kind, id)
	}
	return flushTable(tw)
}

func flushTable(tw *tabwriter.Writer) error {
	if err := tw.Flush(); err != nil {
		return fmt.Errorf("write: %w", err)
	}
	return nil
}
