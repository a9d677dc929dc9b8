package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/ternmail/tern/core/internal/app"
	"github.com/ternmail/tern/core/internal/config"
)

// The console's commands (projects, users, batches, reports) talk to the
// daemon's JSON API: the scheduler runs in the daemon, and the daemon
// holds the state store. The address comes from the configuration's
// listen (or --server), the token from the state directory's api-token
// file (or TERN_API_TOKEN).

// apiFlags are the flags of a command that talks to the daemon.
type apiFlags struct {
	config, state, server, tokenFile string
	json                             bool
}

func (a *apiFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&a.config, "config", "", "daemon configuration `file` (its listen address and state directory)")
	fs.StringVar(&a.state, "state", "", "state `directory` holding the API token (default: the configuration's)")
	fs.StringVar(&a.server, "server", "", "the daemon's `URL` (default: http:// + the configuration's listen)")
	fs.StringVar(&a.tokenFile, "token-file", "", "`file` holding the API token (default: STATE/api-token; or set TERN_API_TOKEN)")
	fs.BoolVar(&a.json, "json", false, "print JSON")
}

// apiClient calls the daemon's JSON API.
type apiClient struct {
	base  string
	token string
	http  *http.Client
}

func (a *apiFlags) client() (*apiClient, error) {
	cfg, err := daemonConfig(a.config, a.state)
	if err != nil {
		return nil, err
	}
	base := a.server
	if base == "" {
		base = daemonURL(cfg)
	}
	token := os.Getenv("TERN_API_TOKEN")
	if a.tokenFile != "" || token == "" {
		file := a.tokenFile
		if file == "" {
			file = filepath.Join(cfg.StateDir, "api-token")
		}
		b, err := os.ReadFile(file)
		if err != nil {
			return nil, fmt.Errorf("API token: %w (is the daemon running with this state directory? give --state, --token-file or TERN_API_TOKEN)", err)
		}
		token = strings.TrimSpace(string(b))
	}
	return &apiClient{base: strings.TrimRight(base, "/") + "/api/v1", token: token, http: &http.Client{Timeout: 5 * time.Minute}}, nil
}

// daemonURL is where the daemon of cfg listens: what the running daemon
// wrote in its state directory, else the configuration's address.
func daemonURL(cfg config.Config) string {
	if b, err := os.ReadFile(filepath.Join(cfg.StateDir, app.AddressFile)); err == nil {
		return strings.TrimSpace(string(b))
	}
	return "http://" + cfg.Listen
}

// apiError is an error answer of the API.
type apiError struct {
	Status int
	Msg    string
}

func (e *apiError) Error() string { return e.Msg }

// do sends a request; body is JSON-encoded unless it is an io.Reader (sent
// as text/csv); out, if not nil, receives the JSON answer (or, when it is
// an io.Writer, the raw body).
func (c *apiClient) do(ctx context.Context, method, path string, body, out any) error {
	var rd io.Reader
	ctype := ""
	switch b := body.(type) {
	case nil:
	case io.Reader:
		rd, ctype = b, "text/csv"
	default:
		j, err := json.Marshal(b)
		if err != nil {
			return err
		}
		rd, ctype = bytes.NewReader(j), "application/json"
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, rd)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	req.Header.Set("Accept", "application/json")
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("the daemon at %s does not answer (is `tern serve` running?): %w", strings.TrimSuffix(c.base, "/api/v1"), err)
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 300 {
		var e struct {
			Error string `json:"error"`
		}
		raw, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		if json.Unmarshal(raw, &e) != nil || e.Error == "" {
			e.Error = strings.TrimSpace(string(raw))
		}
		if e.Error == "" {
			e.Error = resp.Status
		}
		return &apiError{Status: resp.StatusCode, Msg: e.Error}
	}
	switch o := out.(type) {
	case nil:
		return nil
	case io.Writer:
		_, err := io.Copy(o, resp.Body)
		return err
	default:
		return json.NewDecoder(resp.Body).Decode(out)
	}
}

// pathEscape escapes one path segment.
func pathEscape(s string) string { return url.PathEscape(s) }

// fail prints a command's error and returns its exit status: 2 for bad
// usage (an API 400), 1 otherwise.
func fail(stderr io.Writer, cmd string, err error) int {
	fmt.Fprintf(stderr, "%s: %v\n", cmd, err)
	var ae *apiError
	if errors.As(err, &ae) && ae.Status == http.StatusBadRequest {
		return 2
	}
	return 1
}
