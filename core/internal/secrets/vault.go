package secrets

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/vault/api"
)

// Vault keeps secrets in a HashiCorp Vault KV version 2 engine, each at
// <mount>/data/<prefix>/<path> with its value under the key "value".
// Writing a secret again adds a version; deleting removes the metadata and
// every version.
//
// # Login and renewal
//
// With AppRole (role_id and secret_id read from their files) the backend
// logs in by itself, renews its token before it expires, and logs in again
// when renewal is no longer possible or a request finds the token expired.
// With a token file the token is read at start and renewed while it can
// be; when it expires the backend reports unhealthy until the file holds a
// valid token (it is read again before each retry).
//
// # Failures
//
// A sealed Vault, an unreachable one, or a token that cannot be renewed or
// replaced make every call fail with ErrUnavailable and a message that says
// which; callers pause and retry. A policy that denies access is not
// "unavailable": it is an error to fix.
type Vault struct {
	cfg    VaultConfig
	client *api.Client
	log    *slog.Logger

	mu        sync.Mutex
	expires   time.Time // zero: no expiry known
	renewable bool

	stop chan struct{}
	done chan struct{}
}

// OpenVault connects to Vault, logs in and checks that it can be used.
func OpenVault(ctx context.Context, cfg VaultConfig) (Store, error) {
	return openVault(ctx, cfg, nil)
}

func openVault(ctx context.Context, cfg VaultConfig, log *slog.Logger) (*Vault, error) {
	if cfg.Address == "" {
		return nil, errors.New("vault: no address configured")
	}
	if cfg.Mount == "" {
		cfg.Mount = "secret"
	}
	if cfg.Prefix == "" {
		cfg.Prefix = "tern"
	}
	if cfg.AppRoleMount == "" {
		cfg.AppRoleMount = "approle"
	}
	cfg.Mount, cfg.Prefix = strings.Trim(cfg.Mount, "/"), strings.Trim(cfg.Prefix, "/")
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	ac := api.DefaultConfig()
	if ac.Error != nil {
		return nil, fmt.Errorf("vault: %w", ac.Error)
	}
	ac.Address = cfg.Address
	ac.Timeout = 15 * time.Second
	ac.MaxRetries = 0 // Tern's callers retry, with their own backoff
	if cfg.CAFile != "" {
		if err := ac.ConfigureTLS(&api.TLSConfig{CACert: cfg.CAFile}); err != nil {
			return nil, fmt.Errorf("vault: CA file %s: %w", cfg.CAFile, err)
		}
	}
	client, err := api.NewClient(ac)
	if err != nil {
		return nil, fmt.Errorf("vault: %w", err)
	}
	client.ClearToken() // never a token from the environment (VAULT_TOKEN)
	if cfg.Namespace != "" {
		client.SetNamespace(cfg.Namespace)
	}
	v := &Vault{cfg: cfg, client: client, log: log, stop: make(chan struct{}), done: make(chan struct{})}
	if err := v.login(ctx); err != nil {
		return nil, err
	}
	if h := v.Health(ctx); !h.OK {
		return nil, fmt.Errorf("vault: %s", h.Detail)
	}
	go v.renewLoop()
	return v, nil
}

// login obtains a token: from AppRole, or from the token file.
func (v *Vault) login(ctx context.Context) error {
	if v.cfg.RoleIDFile != "" {
		roleID, err := readTrim(v.cfg.RoleIDFile)
		if err != nil {
			return fmt.Errorf("vault: AppRole role_id: %w", err)
		}
		secretID, err := readTrim(v.cfg.SecretIDFile)
		if err != nil {
			return fmt.Errorf("vault: AppRole secret_id: %w", err)
		}
		v.client.ClearToken()
		s, err := v.client.Logical().WriteWithContext(ctx, "auth/"+v.cfg.AppRoleMount+"/login", map[string]any{"role_id": roleID, "secret_id": secretID})
		if err != nil {
			return v.classify(err, "AppRole login")
		}
		if s == nil || s.Auth == nil || s.Auth.ClientToken == "" {
			return fmt.Errorf("%w: vault: AppRole login returned no token", ErrUnavailable)
		}
		v.client.SetToken(s.Auth.ClientToken)
		v.mu.Lock()
		v.renewable = s.Auth.Renewable
		v.expires = time.Time{}
		if s.Auth.LeaseDuration > 0 {
			v.expires = time.Now().Add(time.Duration(s.Auth.LeaseDuration) * time.Second)
		}
		v.mu.Unlock()
		v.log.Info("logged in to Vault with AppRole", "ttl", time.Duration(s.Auth.LeaseDuration)*time.Second)
		return nil
	}
	if v.cfg.TokenFile == "" {
		return errors.New("vault: configure token_file, or role_id_file and secret_id_file (AppRole)")
	}
	tok, err := readTrim(v.cfg.TokenFile)
	if err != nil {
		return fmt.Errorf("vault: token file: %w", err)
	}
	v.client.SetToken(tok)
	return v.lookupSelf(ctx)
}

// lookupSelf refreshes what is known of the token's lifetime.
func (v *Vault) lookupSelf(ctx context.Context) error {
	s, err := v.client.Auth().Token().LookupSelfWithContext(ctx)
	if err != nil {
		return v.classify(err, "token lookup")
	}
	ttl, _ := s.TokenTTL()
	renewable, _ := s.TokenIsRenewable()
	v.mu.Lock()
	v.renewable = renewable
	v.expires = time.Time{}
	if ttl > 0 {
		v.expires = time.Now().Add(ttl)
	}
	v.mu.Unlock()
	return nil
}

func readTrim(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	return strings.TrimSpace(string(b)), nil
}

// renewLoop renews the token at half its remaining lifetime, and logs in
// again when it cannot.
func (v *Vault) renewLoop() {
	defer close(v.done)
	for {
		v.mu.Lock()
		expires, renewable := v.expires, v.renewable
		v.mu.Unlock()
		wait := time.Minute
		if !expires.IsZero() {
			wait = max(time.Until(expires)/2, time.Second)
		}
		select {
		case <-v.stop:
			return
		case <-time.After(wait):
		}
		if expires.IsZero() {
			continue // a token without expiry (root, or an orphan without TTL)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		var err error
		if renewable {
			var s *api.Secret
			if s, err = v.client.Auth().Token().RenewSelfWithContext(ctx, 0); err == nil && s != nil && s.Auth != nil {
				v.mu.Lock()
				v.expires = time.Now().Add(time.Duration(s.Auth.LeaseDuration) * time.Second)
				v.renewable = s.Auth.Renewable
				v.mu.Unlock()
			}
		}
		if !renewable || err != nil || time.Until(v.expiry()) < 2*time.Second {
			// Renewal no longer helps: log in again.
			if lerr := v.login(ctx); lerr != nil {
				v.log.Warn("Vault token could not be renewed or replaced; will retry", "err", lerr)
			}
		}
		cancel()
	}
}

func (v *Vault) expiry() time.Time {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.expires
}

// classify turns a Vault client error into ErrUnavailable (sealed,
// unreachable, expired token) or a plain error (denied, bad request).
func (v *Vault) classify(err error, what string) error {
	var re *api.ResponseError
	if errors.As(err, &re) {
		switch {
		case re.StatusCode == http.StatusServiceUnavailable && strings.Contains(strings.Join(re.Errors, " "), "sealed"):
			return fmt.Errorf("%w: Vault at %s is sealed (%s)", ErrUnavailable, v.cfg.Address, what)
		case re.StatusCode >= 500 || re.StatusCode == http.StatusTooManyRequests:
			return fmt.Errorf("%w: Vault at %s answered %d to %s: %s", ErrUnavailable, v.cfg.Address, re.StatusCode, what, strings.Join(re.Errors, "; "))
		case re.StatusCode == http.StatusForbidden:
			return fmt.Errorf("vault: %s: permission denied (check the token's policy on %s/%s)", what, v.cfg.Mount, v.cfg.Prefix)
		case re.StatusCode == http.StatusBadRequest && v.cfg.RoleIDFile != "" && strings.Contains(what, "AppRole"):
			return fmt.Errorf("vault: %s refused: %s (check role_id and secret_id)", what, strings.Join(re.Errors, "; "))
		}
		return fmt.Errorf("vault: %s: %d %s", what, re.StatusCode, strings.Join(re.Errors, "; "))
	}
	var ne net.Error
	var ue *url.Error
	if errors.As(err, &ne) || errors.As(err, &ue) || errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("%w: Vault at %s is unreachable (%s): %v", ErrUnavailable, v.cfg.Address, what, err)
	}
	return fmt.Errorf("vault: %s: %w", what, err)
}

// do runs a request; a denial with an expired token leads to one new
// login and one more try.
func (v *Vault) do(ctx context.Context, what string, fn func() error) error {
	err := fn()
	if err == nil {
		return nil
	}
	var re *api.ResponseError
	if errors.As(err, &re) && re.StatusCode == http.StatusForbidden {
		if lerr := v.login(ctx); lerr == nil {
			if err = fn(); err == nil {
				return nil
			}
		} else {
			return lerr
		}
	}
	if errors.Is(err, api.ErrSecretNotFound) {
		return err
	}
	return v.classify(err, what)
}

func (v *Vault) full(path string) string { return v.cfg.Prefix + "/" + path }

// Get implements Store.
func (v *Vault) Get(ctx context.Context, path string) (string, error) {
	if err := validPath(path); err != nil {
		return "", err
	}
	var out string
	err := v.do(ctx, "read "+path, func() error {
		s, err := v.client.KVv2(v.cfg.Mount).Get(ctx, v.full(path))
		if err != nil {
			return err
		}
		val, ok := s.Data["value"].(string)
		if !ok {
			return fmt.Errorf("secret %s has no string value", path)
		}
		out = val
		return nil
	})
	if errors.Is(err, api.ErrSecretNotFound) {
		return "", fmt.Errorf("%w: %s", ErrNotFound, path)
	}
	return out, err
}

// Put implements Store.
func (v *Vault) Put(ctx context.Context, path, value string) error {
	if err := validPath(path); err != nil {
		return err
	}
	return v.do(ctx, "write "+path, func() error {
		_, err := v.client.KVv2(v.cfg.Mount).Put(ctx, v.full(path), map[string]any{"value": value})
		return err
	})
}

// Versions returns the number of versions Vault keeps of path.
func (v *Vault) Versions(ctx context.Context, path string) (int, error) {
	var n int
	err := v.do(ctx, "versions of "+path, func() error {
		vs, err := v.client.KVv2(v.cfg.Mount).GetVersionsAsList(ctx, v.full(path))
		n = len(vs)
		return err
	})
	return n, err
}

// Delete implements Store.
func (v *Vault) Delete(ctx context.Context, path string) error {
	if err := validPath(path); err != nil {
		return err
	}
	return v.do(ctx, "delete "+path, func() error {
		return v.client.KVv2(v.cfg.Mount).DeleteMetadata(ctx, v.full(path))
	})
}

// DeletePrefix implements Store.
func (v *Vault) DeletePrefix(ctx context.Context, prefix string) error {
	paths, err := v.List(ctx, prefix)
	if err != nil {
		return err
	}
	for _, p := range paths {
		if err := v.Delete(ctx, p); err != nil {
			return err
		}
	}
	return nil
}

// List implements Store: it walks the metadata tree under the prefix's
// directory and keeps the paths that start with prefix.
func (v *Vault) List(ctx context.Context, prefix string) ([]string, error) {
	dir := prefix
	if i := strings.LastIndex(dir, "/"); i >= 0 {
		dir = dir[:i+1]
	} else {
		dir = ""
	}
	var out []string
	var walk func(d string) error
	walk = func(d string) error {
		var keys []any
		err := v.do(ctx, "list "+d, func() error {
			s, err := v.client.Logical().ListWithContext(ctx, v.cfg.Mount+"/metadata/"+v.full(d))
			if err != nil {
				return err
			}
			keys = nil
			if s != nil {
				keys, _ = s.Data["keys"].([]any)
			}
			return nil
		})
		if err != nil {
			return err
		}
		for _, k := range keys {
			name, _ := k.(string)
			if strings.HasSuffix(name, "/") {
				if err := walk(d + name); err != nil {
					return err
				}
				continue
			}
			if p := d + name; strings.HasPrefix(p, prefix) {
				out = append(out, p)
			}
		}
		return nil
	}
	if err := walk(dir); err != nil {
		return nil, err
	}
	sort.Strings(out)
	return out, nil
}

// Health implements Store: Vault's seal status, the mount's
// reachability with this token, and the token's remaining lifetime.
func (v *Vault) Health(ctx context.Context) Health {
	h := Health{Backend: "vault"}
	where := fmt.Sprintf("Vault at %s, KV v2 mount %q, prefix %q", v.cfg.Address, v.cfg.Mount, v.cfg.Prefix)
	hr, err := v.client.Sys().HealthWithContext(ctx)
	if err != nil {
		h.Detail = v.classify(err, "health").Error()
		return h
	}
	if hr.Sealed {
		h.Detail = where + ": sealed"
		return h
	}
	if err := v.lookupSelf(ctx); err != nil {
		// An expired token: try to log in again before saying no.
		if lerr := v.login(ctx); lerr != nil {
			h.Detail = where + ": token: " + err.Error()
			return h
		}
	}
	v.mu.Lock()
	if !v.expires.IsZero() {
		h.TokenTTL = time.Until(v.expires)
	}
	h.TokenRenewable = v.renewable
	v.mu.Unlock()
	h.OK, h.Detail = true, where
	return h
}

// Close stops the renewal.
func (v *Vault) Close() error {
	select {
	case <-v.stop:
	default:
		close(v.stop)
		<-v.done
	}
	return nil
}
