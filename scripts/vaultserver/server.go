package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
	kv "github.com/hashicorp/vault-plugin-secrets-kv"
	"github.com/hashicorp/vault/api"
	"github.com/hashicorp/vault/builtin/credential/approle"
	vaulthttp "github.com/hashicorp/vault/http"
	"github.com/hashicorp/vault/internalshared/configutil"
	"github.com/hashicorp/vault/sdk/helper/consts"
	"github.com/hashicorp/vault/sdk/logical"
	"github.com/hashicorp/vault/sdk/physical/inmem"
	"github.com/hashicorp/vault/vault"
	"github.com/hashicorp/vault/version"
)

// Mounts that the server enables before it reports ready, as Tern expects
// them: KV version 2 at secret/ (Vault's dev-mode default) and AppRole at
// approle/ (the CLI's default path).
const (
	KVMount      = "secret"
	AppRoleMount = "approle"
)

// Unseal key shares and threshold of `vault operator init`'s defaults.
const (
	keyShares    = 5
	keyThreshold = 3
)

// Config says how to run a server.
type Config struct {
	// Addr is the listen address of the main listener ("127.0.0.1:0").
	Addr string
	// TLS makes the main listener serve HTTPS.
	TLS bool
	// TLSAddr, if set, adds an HTTPS listener on the same Vault.
	TLSAddr string
	// CAFile receives the PEM of the self-signed CA that signs the
	// HTTPS listeners' certificate; required with TLS or TLSAddr.
	CAFile string
	// Log receives Vault's own log at LogLevel (default: discarded).
	Log      io.Writer
	LogLevel hclog.Level
}

// Info describes a running server; it is the -info file's content.
type Info struct {
	// Addr is the main listener's URL, http:// or https://.
	Addr string `json:"addr"`
	// TLSAddr is the extra HTTPS listener's URL, if any.
	TLSAddr string `json:"tls_addr,omitempty"`
	// CACert is the CA certificate's PEM file when a listener is HTTPS.
	CACert string `json:"ca_cert,omitempty"`
	// RootToken is the initial root token.
	RootToken string `json:"root_token"`
	// UnsealKeysB64 are all unseal key shares, base64 as sys/unseal
	// takes them; UnsealThreshold of them unseal.
	UnsealKeysB64   []string `json:"unseal_keys_b64"`
	UnsealThreshold int      `json:"unseal_threshold"`
	KVMount         string   `json:"kv_mount"`
	KVVersion       int      `json:"kv_version"`
	AppRoleMount    string   `json:"approle_mount"`
	VaultVersion    string   `json:"vault_version"`
	PID             int      `json:"pid"`
}

// Server is a running Vault core with its HTTP listeners.
type Server struct {
	Info Info

	core    *vault.Core
	servers []*http.Server
	once    sync.Once
	err     error
}

// registry is Vault's catalogue of built-in plugins cut down to what the
// server offers: the real one links every secrets engine and auth method
// Vault ships (AWS, Azure, GCP, databases…), which would multiply the build
// time. The engines themselves come through CoreConfig's LogicalBackends
// and CredentialBackends, as with `vault server`.
type registry struct{}

func (registry) factory(name string, t consts.PluginType) (logical.Factory, bool) {
	switch {
	case name == "kv" && t == consts.PluginTypeSecrets:
		return kv.Factory, true
	case name == "approle" && t == consts.PluginTypeCredential:
		return approle.Factory, true
	}
	return nil, false
}

func (r registry) Contains(name string, t consts.PluginType) bool {
	_, ok := r.factory(name, t)
	return ok
}

func (r registry) Get(name string, t consts.PluginType) (func() (interface{}, error), bool) {
	f, ok := r.factory(name, t)
	if !ok {
		return nil, false
	}
	return func() (interface{}, error) { return f, nil }, true
}

func (registry) Keys(t consts.PluginType) []string {
	switch t {
	case consts.PluginTypeSecrets:
		return []string{"kv"}
	case consts.PluginTypeCredential:
		return []string{"approle"}
	}
	return nil
}

func (r registry) DeprecationStatus(name string, t consts.PluginType) (consts.DeprecationStatus, bool) {
	if r.Contains(name, t) {
		return consts.Supported, true
	}
	return consts.Unknown, false
}

func (registry) IsBuiltinEntPlugin(string, consts.PluginType) bool { return false }

// Start runs a Vault core on in-memory storage, serves its HTTP API,
// initialises and unseals it through that API as an operator would, and
// enables KV v2 at secret/ and AppRole at approle/. Close stops it.
func Start(cfg Config) (s *Server, err error) {
	if (cfg.TLS || cfg.TLSAddr != "") && cfg.CAFile == "" {
		return nil, errors.New("TLS needs a CA file to write")
	}
	logOut := cfg.Log
	if logOut == nil {
		logOut = io.Discard
	}
	level := cfg.LogLevel
	if level == hclog.NoLevel {
		level = hclog.Warn
	}
	logger := hclog.New(&hclog.LoggerOptions{Name: "vault", Output: logOut, Level: level})

	storage, err := inmem.NewTransactionalInmem(nil, logger.Named("storage"))
	if err != nil {
		return nil, err
	}
	core, err := vault.NewCore(&vault.CoreConfig{
		Physical:           storage,
		StorageType:        "inmem_transactional",
		Logger:             logger,
		LogLevel:           level.String(),
		DisableMlock:       true,
		LogicalBackends:    map[string]logical.Factory{"kv": kv.Factory},
		CredentialBackends: map[string]logical.Factory{"approle": approle.Factory},
		BuiltinRegistry:    registry{},
	})
	if err != nil {
		return nil, fmt.Errorf("vault core: %w", err)
	}
	s = &Server{core: core}
	defer func() {
		if err != nil {
			s.Close()
			s = nil
		}
	}()

	var tlsConf *tls.Config
	if cfg.TLS || cfg.TLSAddr != "" {
		if tlsConf, err = makeCA(cfg.CAFile); err != nil {
			return s, err
		}
		s.Info.CACert = cfg.CAFile
	}
	mainLn, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return s, err
	}
	if cfg.TLS {
		s.Info.Addr = "https://" + mainLn.Addr().String()
		s.serve(core, tls.NewListener(mainLn, tlsConf))
	} else {
		s.Info.Addr = "http://" + mainLn.Addr().String()
		s.serve(core, mainLn)
	}
	if cfg.TLSAddr != "" {
		ln, err := net.Listen("tcp", cfg.TLSAddr)
		if err != nil {
			return s, err
		}
		s.Info.TLSAddr = "https://" + ln.Addr().String()
		s.serve(core, tls.NewListener(ln, tlsConf))
	}

	// From here on only the HTTP API, as an operator or Tern would.
	client, err := s.Client()
	if err != nil {
		return s, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	init, err := client.Sys().InitWithContext(ctx, &api.InitRequest{SecretShares: keyShares, SecretThreshold: keyThreshold})
	if err != nil {
		return s, fmt.Errorf("sys/init: %w", err)
	}
	s.Info.RootToken = init.RootToken
	s.Info.UnsealKeysB64 = init.KeysB64
	s.Info.UnsealThreshold = keyThreshold
	for _, k := range init.KeysB64[:keyThreshold] {
		st, err := client.Sys().UnsealWithContext(ctx, k)
		if err != nil {
			return s, fmt.Errorf("sys/unseal: %w", err)
		}
		if !st.Sealed {
			break
		}
	}
	client.SetToken(init.RootToken)
	if err := client.Sys().MountWithContext(ctx, KVMount, &api.MountInput{
		Type:        "kv",
		Description: "key/value secret storage",
		Options:     map[string]string{"version": "2"},
	}); err != nil {
		return s, fmt.Errorf("mount kv v2 at %s/: %w", KVMount, err)
	}
	if err := client.Sys().EnableAuthWithOptionsWithContext(ctx, AppRoleMount, &api.EnableAuthOptions{Type: "approle"}); err != nil {
		return s, fmt.Errorf("enable approle at %s/: %w", AppRoleMount, err)
	}
	// A KV v2 mount answers writes only once it has set itself up in the
	// background; wait until it does, so that the first test's write works.
	for {
		_, err := client.Logical().WriteWithContext(ctx, KVMount+"/data/vaultserver-ready", map[string]interface{}{"data": map[string]interface{}{"ready": true}})
		if err == nil {
			break
		}
		if ctx.Err() != nil {
			return s, fmt.Errorf("kv v2 at %s/ never became ready: %w", KVMount, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if _, err := client.Logical().DeleteWithContext(ctx, KVMount+"/metadata/vaultserver-ready"); err != nil {
		return s, err
	}
	s.Info.KVMount = KVMount
	s.Info.KVVersion = 2
	s.Info.AppRoleMount = AppRoleMount
	s.Info.VaultVersion = version.GetVersion().Version
	s.Info.PID = os.Getpid()
	return s, nil
}

func (s *Server) serve(core *vault.Core, ln net.Listener) {
	host, _, _ := net.SplitHostPort(ln.Addr().String())
	h := vaulthttp.Handler.Handler(&vault.HandlerProperties{
		Core:           core,
		ListenerConfig: &configutil.Listener{Type: "tcp", Address: host},
	})
	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		// Failed TLS handshakes and the like, at info level (as Vault's
		// own server logs them), not on standard error.
		ErrorLog: core.Logger().StandardLogger(&hclog.StandardLoggerOptions{ForceLevel: hclog.Info}),
	}
	s.servers = append(s.servers, srv)
	go srv.Serve(ln)
}

// Client returns an API client for the main listener without a token.
func (s *Server) Client() (*api.Client, error) {
	conf := api.DefaultConfig()
	if conf.Error != nil {
		return nil, conf.Error
	}
	conf.Address = s.Info.Addr
	if s.Info.CACert != "" {
		if err := conf.ConfigureTLS(&api.TLSConfig{CACert: s.Info.CACert}); err != nil {
			return nil, err
		}
	}
	c, err := api.NewClient(conf)
	if err != nil {
		return nil, err
	}
	c.ClearToken() // never VAULT_TOKEN from the environment
	return c, nil
}

// Close stops the listeners and shuts the core down.
func (s *Server) Close() error {
	s.once.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		for _, srv := range s.servers {
			srv.Shutdown(ctx)
		}
		s.err = s.core.Shutdown()
	})
	return s.err
}

// makeCA writes a new self-signed CA's certificate to caFile and returns
// a TLS configuration with a certificate it signed for 127.0.0.1, ::1
// and localhost.
func makeCA(caFile string) (*tls.Config, error) {
	now := time.Now()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	caTmpl := &x509.Certificate{
		SerialNumber:          serial(),
		Subject:               pkix.Name{CommonName: "Tern test Vault CA"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.AddDate(10, 0, 0),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		return nil, err
	}
	caCert, err := x509.ParseCertificate(caDER)
	if err != nil {
		return nil, err
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial(),
		Subject:      pkix.Name{CommonName: "localhost"},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.AddDate(10, 0, 0),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		DNSNames:     []string{"localhost"},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, caCert, &key.PublicKey, caKey)
	if err != nil {
		return nil, err
	}
	if err := writeFileAtomic(caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}), 0o644); err != nil {
		return nil, err
	}
	return &tls.Config{
		MinVersion:   tls.VersionTLS12,
		Certificates: []tls.Certificate{{Certificate: [][]byte{der, caDER}, PrivateKey: key, Leaf: nil}},
	}, nil
}

func serial() *big.Int {
	n, _ := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 120))
	return n
}

// writeFileAtomic writes a temporary file beside name and renames it, so
// a reader sees the whole file or none.
func writeFileAtomic(name string, data []byte, perm os.FileMode) error {
	if err := os.MkdirAll(filepath.Dir(name), 0o755); err != nil {
		return err
	}
	f, err := os.CreateTemp(filepath.Dir(name), "."+filepath.Base(name)+".*")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Chmod(perm); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(f.Name(), name)
}
