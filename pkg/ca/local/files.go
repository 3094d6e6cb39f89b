package local

import (
	"crypto"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// File names inside Config.Dir. root.pem is the file users hand to clients
// (REQUESTS_CA_BUNDLE, trust stores); the keys never leave the directory.
const (
	rootCertFile  = "root.pem"
	rootKeyFile   = "root.key"
	interCertFile = "intermediate.pem"
	interKeyFile  = "intermediate.key"
)

// Modes: certificates are public, keys are readable by the owner only.
const (
	certMode = 0o644
	keyMode  = 0o600
	dirMode  = 0o700
)

// caFiles lists every file of a complete CA in the order they are written.
// root.pem comes last, so a crash during creation never leaves a root.pem
// that someone could already have distributed without the keys behind it.
func caFiles() []string {
	return []string{rootKeyFile, interKeyFile, interCertFile, rootCertFile}
}

// material is a CA in encoded form, as it is on disk.
type material struct {
	rootDER, interDER []byte
	rootKey, interKey crypto.Signer
}

// presentFiles reports which of caFiles exist in dir.
func presentFiles(dir string) (present, missing []string, err error) {
	for _, name := range caFiles() {
		_, err := os.Stat(filepath.Join(dir, name))
		switch {
		case err == nil:
			present = append(present, name)
		case errors.Is(err, fs.ErrNotExist):
			missing = append(missing, name)
		default:
			return nil, nil, fmt.Errorf("os.Stat: %w", err)
		}
	}
	return present, missing, nil
}

// incompleteError explains a directory holding only part of a CA. The CA
// is never regenerated over it: a fresh root would silently invalidate the
// one users already trust.
func incompleteError(dir string, present, missing []string) error {
	return fmt.Errorf("local CA in %s is incomplete: found %s but missing %s; "+
		"restore the missing files, or delete the found ones to generate a new CA",
		dir, strings.Join(present, ", "), strings.Join(missing, ", "))
}

// save writes m into dir, each file atomically (temp file, fsync, rename),
// then syncs the directory so the renames are durable.
func save(dir string, m *material) error {
	rootKey, err := encodeKey(m.rootKey)
	if err != nil {
		return err
	}
	interKey, err := encodeKey(m.interKey)
	if err != nil {
		return err
	}
	contents := map[string][]byte{
		rootKeyFile:   rootKey,
		interKeyFile:  interKey,
		interCertFile: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: m.interDER}),
		rootCertFile:  pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: m.rootDER}),
	}
	for _, name := range caFiles() {
		mode := os.FileMode(certMode)
		if strings.HasSuffix(name, ".key") {
			mode = keyMode
		}
		if err := writeFileAtomic(dir, name, contents[name], mode); err != nil {
			return err
		}
	}
	return syncDir(dir)
}

func encodeKey(k crypto.Signer) ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		return nil, fmt.Errorf("x509.MarshalPKCS8PrivateKey: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
}

// writeFileAtomic replaces dir/name with data: readers see either the old
// file or the complete new one, never a prefix.
func writeFileAtomic(dir, name string, data []byte, mode os.FileMode) (err error) {
	f, err := os.CreateTemp(dir, "."+name+".tmp-*")
	if err != nil {
		return fmt.Errorf("os.CreateTemp: %w", err)
	}
	tmp := f.Name()
	defer func() {
		if err != nil {
			_ = f.Close()
			_ = os.Remove(tmp)
		}
	}()
	if err := f.Chmod(mode); err != nil {
		return fmt.Errorf("chmod %s: %w", tmp, err)
	}
	if _, err := f.Write(data); err != nil {
		return fmt.Errorf("write %s: %w", tmp, err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("fsync %s: %w", tmp, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("close %s: %w", tmp, err)
	}
	if err := os.Rename(tmp, filepath.Join(dir, name)); err != nil {
		return fmt.Errorf("os.Rename: %w", err)
	}
	return nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("os.Open: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("fsync %s: %w", dir, err)
	}
	return nil
}

// load reads the four CA files of dir.
func load(dir string) (*material, error) {
	var m material
	var err error
	if m.rootDER, err = readCert(dir, rootCertFile); err != nil {
		return nil, err
	}
	if m.interDER, err = readCert(dir, interCertFile); err != nil {
		return nil, err
	}
	if m.rootKey, err = readKey(dir, rootKeyFile); err != nil {
		return nil, err
	}
	if m.interKey, err = readKey(dir, interKeyFile); err != nil {
		return nil, err
	}
	return &m, nil
}

// readPEM returns the DER of the single PEM block of type typ in dir/name.
func readPEM(dir, name, typ string) ([]byte, error) {
	path := filepath.Join(dir, name)
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("os.ReadFile: %w", err)
	}
	b, _ := pem.Decode(data)
	if b == nil || b.Type != typ {
		return nil, fmt.Errorf("%s: no PEM block of type %q", path, typ)
	}
	return b.Bytes, nil
}

func readCert(dir, name string) ([]byte, error) {
	return readPEM(dir, name, "CERTIFICATE")
}

func readKey(dir, name string) (crypto.Signer, error) {
	der, err := readPEM(dir, name, "PRIVATE KEY")
	if err != nil {
		return nil, err
	}
	k, err := x509.ParsePKCS8PrivateKey(der)
	if err != nil {
		return nil, fmt.Errorf("x509.ParsePKCS8PrivateKey %s: %w", name, err)
	}
	s, ok := k.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("%s: key of type %T cannot sign", name, k)
	}
	return s, nil
}
