package secrets

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"
)

// Embedded keeps secrets in one encrypted file. Values are sealed with
// AES-256-GCM (a fresh 96-bit nonce each) under a 256-bit key read from
// its own file, which must be readable by the owner only; the secret's
// path is the additional authenticated data. The file is rewritten
// atomically (write, fsync, rename) on every change and keeps earlier
// versions of a value, like Vault's KV v2.
type Embedded struct {
	file, keyFile string
	aead          cipher.AEAD

	mu   sync.Mutex
	data embeddedFile
}

// keep this many versions of a value.
const embeddedVersions = 5

type embeddedFile struct {
	Format  int                          `json:"format"`
	Secrets map[string][]embeddedVersion `json:"secrets"`
}

type embeddedVersion struct {
	Version int       `json:"version"`
	Created time.Time `json:"created"`
	Nonce   []byte    `json:"nonce"`
	Sealed  []byte    `json:"sealed"`
}

// OpenEmbedded opens (creating if needed) the encrypted store file and its
// key file. A key file readable by others is refused.
func OpenEmbedded(file, keyFile string) (*Embedded, error) {
	key, err := loadOrCreateKey(keyFile)
	if err != nil {
		return nil, err
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	e := &Embedded{file: file, keyFile: keyFile, aead: aead, data: embeddedFile{Format: 1, Secrets: map[string][]embeddedVersion{}}}
	b, err := os.ReadFile(file)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		if err := os.MkdirAll(filepath.Dir(file), 0o700); err != nil {
			return nil, err
		}
		if err := e.save(); err != nil {
			return nil, err
		}
	case err != nil:
		return nil, fmt.Errorf("secrets file: %w", err)
	default:
		if err := json.Unmarshal(b, &e.data); err != nil {
			return nil, fmt.Errorf("secrets file %s is damaged: %v", file, err)
		}
		if e.data.Format != 1 {
			return nil, fmt.Errorf("secrets file %s has format %d; this Tern reads format 1", file, e.data.Format)
		}
		if e.data.Secrets == nil {
			e.data.Secrets = map[string][]embeddedVersion{}
		}
		// Prove the key opens the file now rather than at the first use.
		for p, vs := range e.data.Secrets {
			if _, err := e.open(p, vs[len(vs)-1]); err != nil {
				return nil, fmt.Errorf("secrets file %s cannot be opened with the key in %s (wrong key file?)", file, keyFile)
			}
			break
		}
	}
	return e, nil
}

func loadOrCreateKey(path string) ([]byte, error) {
	fi, err := os.Stat(path)
	if errors.Is(err, fs.ErrNotExist) {
		if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
			return nil, err
		}
		key := make([]byte, 32)
		rand.Read(key)
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if err != nil {
			return nil, fmt.Errorf("create secrets key: %w", err)
		}
		if _, err := f.Write(key); err != nil {
			f.Close()
			return nil, err
		}
		if err := f.Sync(); err != nil {
			f.Close()
			return nil, err
		}
		return key, f.Close()
	}
	if err != nil {
		return nil, fmt.Errorf("secrets key: %w", err)
	}
	if fi.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("secrets key %s is readable by others (mode %v); chmod 600 it", path, fi.Mode().Perm())
	}
	key, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("secrets key: %w", err)
	}
	if len(key) != 32 {
		return nil, fmt.Errorf("secrets key %s: want 32 bytes, found %d", path, len(key))
	}
	return key, nil
}

func (e *Embedded) seal(path, value string) embeddedVersion {
	nonce := make([]byte, e.aead.NonceSize())
	rand.Read(nonce)
	return embeddedVersion{Created: time.Now().UTC(), Nonce: nonce, Sealed: e.aead.Seal(nil, nonce, []byte(value), []byte(path))}
}

func (e *Embedded) open(path string, v embeddedVersion) (string, error) {
	b, err := e.aead.Open(nil, v.Nonce, v.Sealed, []byte(path))
	if err != nil {
		return "", fmt.Errorf("secret %s does not decrypt (damaged, or moved from another path)", path)
	}
	return string(b), nil
}

// save writes the file atomically.
func (e *Embedded) save() error {
	b, err := json.Marshal(&e.data)
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(e.file), ".secrets-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return err
	}
	if _, err := tmp.Write(b); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), e.file)
}

// Get implements Store.
func (e *Embedded) Get(_ context.Context, path string) (string, error) {
	if err := validPath(path); err != nil {
		return "", err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	vs := e.data.Secrets[path]
	if len(vs) == 0 {
		return "", fmt.Errorf("%w: %s", ErrNotFound, path)
	}
	return e.open(path, vs[len(vs)-1])
}

// Versions returns how many versions of path are kept.
func (e *Embedded) Versions(path string) int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return len(e.data.Secrets[path])
}

// Put implements Store.
func (e *Embedded) Put(_ context.Context, path, value string) error {
	if err := validPath(path); err != nil {
		return err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	vs := e.data.Secrets[path]
	v := e.seal(path, value)
	v.Version = 1
	if len(vs) > 0 {
		v.Version = vs[len(vs)-1].Version + 1
	}
	vs = append(vs, v)
	if len(vs) > embeddedVersions {
		vs = vs[len(vs)-embeddedVersions:]
	}
	old := e.data.Secrets[path]
	e.data.Secrets[path] = vs
	if err := e.save(); err != nil {
		e.data.Secrets[path] = old
		return err
	}
	return nil
}

// Delete implements Store.
func (e *Embedded) Delete(_ context.Context, path string) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	old, ok := e.data.Secrets[path]
	if !ok {
		return nil
	}
	delete(e.data.Secrets, path)
	if err := e.save(); err != nil {
		e.data.Secrets[path] = old
		return err
	}
	return nil
}

// DeletePrefix implements Store.
func (e *Embedded) DeletePrefix(_ context.Context, prefix string) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	removed := map[string][]embeddedVersion{}
	for p, v := range e.data.Secrets {
		if strings.HasPrefix(p, prefix) {
			removed[p] = v
			delete(e.data.Secrets, p)
		}
	}
	if len(removed) == 0 {
		return nil
	}
	if err := e.save(); err != nil {
		for p, v := range removed {
			e.data.Secrets[p] = v
		}
		return err
	}
	return nil
}

// List implements Store.
func (e *Embedded) List(_ context.Context, prefix string) ([]string, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	var out []string
	for p := range e.data.Secrets {
		if strings.HasPrefix(p, prefix) {
			out = append(out, p)
		}
	}
	sort.Strings(out)
	return out, nil
}

// Health implements Store.
func (e *Embedded) Health(context.Context) Health {
	h := Health{Backend: "embedded", OK: true, Detail: fmt.Sprintf("encrypted file %s (AES-256-GCM, key in %s)", e.file, e.keyFile)}
	if _, err := os.Stat(e.keyFile); err != nil {
		h.OK, h.Detail = false, "key file: "+err.Error()
	}
	return h
}

// Close implements Store.
func (e *Embedded) Close() error { return nil }
