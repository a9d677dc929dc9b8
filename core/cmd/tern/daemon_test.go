package main_test

import (
	"bufio"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// daemon is a `tern serve` of a test, on a loopback port of its own, with
// its own state directory. It can be stopped, killed and started again
// on the same state and port.
type daemon struct {
	t      *testing.T
	state  string
	config string
	Addr   string // http://127.0.0.1:port
	// OneTimePassword is what the first start printed for the console's
	// administrator "admin".
	OneTimePassword string

	cmd    *exec.Cmd
	mu     sync.Mutex
	stderr strings.Builder
	done   chan struct{}
}

var (
	addrRe = regexp.MustCompile(`addr=(http://[0-9.:]+)`)
	// The stderr line, not the log line that says it was printed.
	otpRe = regexp.MustCompile(`administrator created: name "[^"]*", one-time password (\S+)`)
)

// startDaemon starts tern serve; extraConfig is TOML added to its
// configuration (e.g. a [secrets] section).
func startDaemon(t *testing.T, extraConfig string) *daemon {
	t.Helper()
	dir := t.TempDir()
	d := &daemon{t: t, state: filepath.Join(dir, "state"), config: filepath.Join(dir, "tern.toml")}
	cfg := "listen = \"127.0.0.1:0\"\nlog_level = \"debug\"\nconcurrency = 2\n" + extraConfig
	if err := os.WriteFile(d.config, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	d.start()
	t.Cleanup(func() { d.Kill() })
	return d
}

func (d *daemon) start() {
	d.t.Helper()
	args := []string{"serve", "--config", d.config, "--state", d.state, "--plugins", binDir}
	if d.Addr != "" {
		args = append(args, "--listen", strings.TrimPrefix(d.Addr, "http://"))
	}
	cmd := exec.Command(filepath.Join(binDir, "tern"), args...)
	pr, pw := io.Pipe()
	cmd.Stderr = pw
	cmd.Stdout = pw
	if err := cmd.Start(); err != nil {
		d.t.Fatal(err)
	}
	d.cmd, d.done = cmd, make(chan struct{})
	addrc := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(pr)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			line := sc.Text()
			d.mu.Lock()
			d.stderr.WriteString(line + "\n")
			if m := otpRe.FindStringSubmatch(line); m != nil {
				d.OneTimePassword = strings.TrimSuffix(m[1], ",")
			}
			d.mu.Unlock()
			if m := addrRe.FindStringSubmatch(line); m != nil {
				select {
				case addrc <- m[1]:
				default:
				}
			}
		}
	}()
	go func() {
		cmd.Wait()
		pw.Close()
		close(d.done)
	}()
	select {
	case d.Addr = <-addrc:
	case <-d.done:
		d.t.Fatalf("tern serve exited:\n%s", d.Log())
	case <-time.After(60 * time.Second):
		d.t.Fatalf("tern serve did not start:\n%s", d.Log())
	}
}

// Log returns what the daemon wrote so far.
func (d *daemon) Log() string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.stderr.String()
}

// Token is the API's bearer token.
func (d *daemon) Token() string {
	b, err := os.ReadFile(filepath.Join(d.state, "api-token"))
	if err != nil {
		d.t.Fatal(err)
	}
	return strings.TrimSpace(string(b))
}

// Stop stops the daemon with SIGTERM and waits.
func (d *daemon) Stop() {
	d.t.Helper()
	if d.cmd == nil {
		return
	}
	d.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-d.done:
	case <-time.After(60 * time.Second):
		d.t.Fatalf("tern serve did not stop on SIGTERM:\n%s", d.Log())
	}
	d.cmd = nil
}

// Kill kills the daemon at once (kill -9), as a power cut would.
func (d *daemon) Kill() {
	if d.cmd == nil {
		return
	}
	d.cmd.Process.Kill()
	<-d.done
	d.cmd = nil
}

// Restart starts the daemon again on the same state and address.
func (d *daemon) Restart() {
	d.t.Helper()
	d.start()
}

// CLI runs a tern command against this daemon (its configuration and
// state) and returns stdout, stderr and the exit status.
func (d *daemon) CLI(args ...string) (string, string, int) {
	d.t.Helper()
	args = append(args, "--config", d.config, "--state", d.state, "--server", d.Addr)
	cmd := exec.Command(filepath.Join(binDir, "tern"), args...)
	var out, errb strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		d.t.Fatal(err)
	}
	return out.String(), errb.String(), code
}
