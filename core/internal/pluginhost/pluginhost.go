// Package pluginhost finds connector plugins, pins them and keeps them
// running. It is core's only user of the SDK's host package.
//
// # Discovery and pinning
//
// Plugins are the executables named tern-connector-<id> in one directory.
// Each is hashed (SHA-256) when the host is created. If the directory has a
// SHA256SUMS file (the format of sha256sum, written by packaging), every
// plugin must be listed there with a matching hash or it is refused;
// otherwise the hashes taken at discovery are the pins. Every start and
// restart verifies the binary against its pin (go-plugin's SecureConfig),
// so a binary replaced while Tern runs is refused instead of executed.
//
// # Restarts
//
// [Host.Connector] returns a connector.Connector that outlives its process:
// a plugin that crashed is started again on the next call. Sessions opened
// on the dead process fail with connector.ErrUnavailable, and the engine
// opens new ones (and retries the work that was in flight) on the new
// process. A plugin that crashes more than MaxRestarts times a minute is
// left down, and calls fail with a clear error.
package pluginhost

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/ternmail/tern/sdk/connector"
	"github.com/ternmail/tern/sdk/host"
)

// Prefix is the file name prefix of connector plugins.
const Prefix = "tern-connector-"

// ManifestName is the checksum manifest in the plugins directory.
const ManifestName = "SHA256SUMS"

var idPattern = regexp.MustCompile(`^[a-z0-9_]+$`)

// Info describes a discovered plugin.
type Info struct {
	ID     string `json:"id"`
	Path   string `json:"path"`
	SHA256 string `json:"sha256"`
	// Manifest is true when the pin comes from SHA256SUMS.
	Manifest bool `json:"manifest"`
	// Error says why the plugin was refused, "" if it is usable.
	Error string `json:"error,omitempty"`
}

// Options configure a Host.
type Options struct {
	// Logger receives the host's and the plugins' log lines.
	Logger *slog.Logger
	// LogLevel is passed to the plugins.
	LogLevel slog.Level
	// MaxRestarts bounds restarts per minute of one plugin (default 5).
	MaxRestarts int
}

// Host manages the plugins of one directory.
type Host struct {
	dir      string
	opts     Options
	log      *slog.Logger
	mu       sync.Mutex
	plugins  map[string]*Managed
	infos    []Info
	manifest map[string]string
}

// New discovers the plugins in dir. A plugin is hashed and checked
// against the manifest when it is first used (or listed), not here: a
// one-shot command that needs one plugin does not hash every binary.
func New(dir string, o *Options) (*Host, error) {
	h := &Host{dir: dir, plugins: make(map[string]*Managed)}
	if o != nil {
		h.opts = *o
	}
	if h.opts.MaxRestarts <= 0 {
		h.opts.MaxRestarts = 5
	}
	h.log = h.opts.Logger
	if h.log == nil {
		h.log = slog.New(slog.DiscardHandler)
	}
	infos, manifest, err := scan(dir)
	if err != nil {
		return nil, err
	}
	h.infos, h.manifest = infos, manifest
	for _, inf := range infos {
		if inf.Error != "" {
			h.log.Warn("plugin refused", "plugin", inf.ID, "path", inf.Path, "reason", inf.Error)
			continue
		}
		h.plugins[inf.ID] = &Managed{info: inf, h: h}
	}
	return h, nil
}

// Discover lists the plugins in dir with their hashes, checked against
// the directory's manifest if it has one.
func Discover(dir string) ([]Info, error) {
	infos, manifest, err := scan(dir)
	if err != nil {
		return nil, err
	}
	for i := range infos {
		pin(&infos[i], manifest)
	}
	return infos, nil
}

// scan lists the plugin binaries of dir, not yet hashed, and reads the
// manifest (nil if there is none).
func scan(dir string) ([]Info, map[string]string, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, nil, fmt.Errorf("plugins directory: %w", err)
	}
	manifest, hasManifest, err := readManifest(filepath.Join(dir, ManifestName))
	if err != nil {
		return nil, nil, err
	}
	if !hasManifest {
		manifest = nil
	}
	var out []Info
	for _, e := range entries {
		name := e.Name()
		if !strings.HasPrefix(name, Prefix) || e.IsDir() {
			continue
		}
		inf := Info{ID: strings.TrimPrefix(name, Prefix), Path: filepath.Join(dir, name), Manifest: hasManifest}
		fi, err := e.Info()
		switch {
		case err != nil:
			inf.Error = err.Error()
		case fi.Mode()&0o111 == 0:
			continue // not executable: not a plugin (e.g. a README)
		case !idPattern.MatchString(inf.ID):
			inf.Error = fmt.Sprintf("plugin id %q must match %s", inf.ID, idPattern)
		}
		out = append(out, inf)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out, manifest, nil
}

// pin hashes a scanned plugin and checks it against the manifest, if
// any; a mismatch is the plugin's Error.
func pin(inf *Info, manifest map[string]string) {
	if inf.Error != "" || inf.SHA256 != "" {
		return
	}
	sum, err := hashFile(inf.Path)
	if err != nil {
		inf.Error = err.Error()
		return
	}
	inf.SHA256 = sum
	if manifest == nil {
		return
	}
	name := filepath.Base(inf.Path)
	want, listed := manifest[name]
	switch {
	case !listed:
		inf.Error = "not listed in " + ManifestName
	case want != inf.SHA256:
		inf.Error = fmt.Sprintf("SHA-256 %s does not match %s (%s)", inf.SHA256, ManifestName, want)
	}
}

func readManifest(path string) (map[string]string, bool, error) {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	defer f.Close()
	m := map[string]string{}
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		fields := strings.Fields(line)
		if len(fields) != 2 || len(fields[0]) != 64 {
			return nil, false, fmt.Errorf("%s line %d: want \"<sha256>  <file>\"", path, n)
		}
		m[strings.TrimPrefix(fields[1], "*")] = strings.ToLower(fields[0])
	}
	return m, true, sc.Err()
}

func hashFile(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// List returns every discovered plugin, refused ones with their reason,
// hashing those not hashed yet (in parallel).
func (h *Host) List() []Info {
	h.mu.Lock()
	defer h.mu.Unlock()
	var wg sync.WaitGroup
	for i := range h.infos {
		wg.Add(1)
		go func() {
			defer wg.Done()
			pin(&h.infos[i], h.manifest)
		}()
	}
	wg.Wait()
	for _, inf := range h.infos {
		h.settle(inf)
	}
	return append([]Info(nil), h.infos...)
}

// settle brings the managed plugin of a pinned info in line: its hash,
// or its removal when it was refused. h.mu is held.
func (h *Host) settle(inf Info) {
	m, ok := h.plugins[inf.ID]
	if !ok || m.sum != nil {
		return
	}
	if inf.Error != "" {
		h.log.Warn("plugin refused", "plugin", inf.ID, "path", inf.Path, "reason", inf.Error)
		delete(h.plugins, inf.ID)
		return
	}
	m.sum, _ = hex.DecodeString(inf.SHA256)
	m.info = inf
}

// Dir returns the plugins directory.
func (h *Host) Dir() string { return h.dir }

// Connector returns the connector of plugin id.
func (h *Host) Connector(id string) (*Managed, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for i := range h.infos {
		if h.infos[i].ID == id {
			pin(&h.infos[i], h.manifest)
			h.settle(h.infos[i])
		}
	}
	m, ok := h.plugins[id]
	if !ok {
		for _, inf := range h.infos {
			if inf.ID == id {
				return nil, fmt.Errorf("connector plugin %q refused: %s", id, inf.Error)
			}
		}
		return nil, fmt.Errorf("no connector plugin %q in %s (looked for %s%s)", id, h.dir, Prefix, id)
	}
	return m, nil
}

// Close stops every plugin.
func (h *Host) Close() {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, m := range h.plugins {
		m.stop()
	}
}

// Managed is a plugin's connector that survives crashes of its process.
type Managed struct {
	info Info
	sum  []byte
	h    *Host

	mu       sync.Mutex
	proc     *host.Plugin
	starts   []time.Time
	desc     *connector.Description
	startErr error
}

var _ connector.Connector = (*Managed)(nil)

// Info returns the plugin's discovery record.
func (m *Managed) Info() Info { return m.info }

// Pid returns the running process's ID, 0 if none.
func (m *Managed) Pid() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.proc == nil || m.proc.Exited() {
		return 0
	}
	return m.proc.Pid()
}

// current returns the running process's connector, starting or
// restarting the process as needed.
func (m *Managed) current() (connector.Connector, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.proc != nil && !m.proc.Exited() {
		return m.proc.Connector(), nil
	}
	now := time.Now()
	recent := m.starts[:0]
	for _, t := range m.starts {
		if now.Sub(t) < time.Minute {
			recent = append(recent, t)
		}
	}
	m.starts = recent
	if m.proc != nil {
		if len(recent) > m.h.opts.MaxRestarts {
			return nil, connector.Errorf(connector.KindUnavailable, "connector plugin %s crashed %d times within a minute; not restarting it now", m.info.ID, len(recent))
		}
		m.h.log.Warn("connector plugin exited; restarting it", "plugin", m.info.ID)
		m.proc.Kill()
		m.proc = nil
	}
	m.starts = append(m.starts, now)
	p, err := host.Start(m.info.Path,
		host.WithChecksum(m.sum),
		host.WithLogger(m.h.log.With("plugin", m.info.ID)),
		host.WithLogLevel(m.h.opts.LogLevel))
	if err != nil {
		if errors.Is(err, host.ErrChecksum) {
			return nil, connector.Errorf(connector.KindInvalid, "connector plugin %s: the binary changed since it was pinned (SHA-256 %s); restart Tern to pin the new binary", m.info.ID, m.info.SHA256)
		}
		return nil, connector.Wrap(connector.KindUnavailable, "start connector plugin "+m.info.ID, err)
	}
	if m.desc == nil {
		d, err := p.Connector().Describe(context.Background())
		if err != nil {
			p.Kill()
			return nil, connector.Wrap(connector.KindUnavailable, "describe connector plugin "+m.info.ID, err)
		}
		if d.ID != m.info.ID {
			p.Kill()
			return nil, connector.Errorf(connector.KindInvalid, "plugin binary %s says its id is %q", filepath.Base(m.info.Path), d.ID)
		}
		m.desc = d
	}
	m.proc = p
	return p.Connector(), nil
}

func (m *Managed) stop() {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.proc != nil {
		m.proc.Kill()
		m.proc = nil
	}
}

// Describe implements connector.Connector; the description is cached.
func (m *Managed) Describe(ctx context.Context) (*connector.Description, error) {
	m.mu.Lock()
	d := m.desc
	m.mu.Unlock()
	if d != nil {
		return d, nil
	}
	if _, err := m.current(); err != nil {
		return nil, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.desc, nil
}

// open runs an open call, restarting a dead plugin once.
func open[T any](m *Managed, fn func(connector.Connector) (T, error)) (T, error) {
	var zero T
	for attempt := 0; ; attempt++ {
		c, err := m.current()
		if err != nil {
			return zero, err
		}
		s, err := fn(c)
		if err == nil || attempt > 0 || !errors.Is(err, connector.ErrUnavailable) {
			return s, err
		}
		// The process may have died under us; give it one restart.
		time.Sleep(50 * time.Millisecond)
	}
}

// OpenSource implements connector.Connector.
func (m *Managed) OpenSource(ctx context.Context, req *connector.OpenRequest) (connector.Source, error) {
	return open(m, func(c connector.Connector) (connector.Source, error) { return c.OpenSource(ctx, req) })
}

// OpenTarget implements connector.Connector.
func (m *Managed) OpenTarget(ctx context.Context, req *connector.OpenRequest) (connector.Target, error) {
	return open(m, func(c connector.Connector) (connector.Target, error) { return c.OpenTarget(ctx, req) })
}

var (
	_ connector.ConnectionTester = (*Managed)(nil)
	_ connector.UserLister       = (*Managed)(nil)
)

// TestConnection implements connector.ConnectionTester (a plugin without
// the capability answers ErrUnsupported).
func (m *Managed) TestConnection(ctx context.Context, req *connector.TestRequest) (*connector.TestReport, error) {
	return open(m, func(c connector.Connector) (*connector.TestReport, error) {
		t, ok := c.(connector.ConnectionTester)
		if !ok {
			return nil, connector.Errorf(connector.KindUnsupported, "connector plugin %s cannot test connections", m.info.ID)
		}
		return t.TestConnection(ctx, req)
	})
}

// ListUsers implements connector.UserLister (a plugin without the
// capability answers ErrUnsupported).
// Unlike the open calls it is not retried after a crash: fn may have seen
// pages already.
func (m *Managed) ListUsers(ctx context.Context, req *connector.ListUsersRequest, fn func([]connector.User) error) error {
	c, err := m.current()
	if err != nil {
		return err
	}
	l, ok := c.(connector.UserLister)
	if !ok {
		return connector.Errorf(connector.KindUnsupported, "connector plugin %s cannot list users", m.info.ID)
	}
	return l.ListUsers(ctx, req, fn)
}
