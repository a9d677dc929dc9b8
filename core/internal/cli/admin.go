package cli

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/ternmail/tern/core/internal/admins"
	"github.com/ternmail/tern/core/internal/audit"
	"github.com/ternmail/tern/core/internal/logx"
	"github.com/ternmail/tern/core/internal/store"
)

const adminUsage = `Usage:
  tern admin list
  tern admin create NAME [--password-file F]
  tern admin reset-password NAME [--password-file F]
  tern admin unlock NAME

Manages the console's administrator accounts. The password is read from
--password-file, else asked for on the terminal (without echo), else read
as one line from standard input; never from the command line. An account
created or reset here must choose a new password at its next login.

These commands open the state store, which a running "tern serve" holds:
stop the daemon first, or do the same in the console (Admins) or with the
API (POST /api/v1/admins, POST /api/v1/admins/NAME/password).
`

// Stdin is where `tern admin` reads a password when it is not a
// terminal (tests replace it).
var Stdin io.Reader = os.Stdin

func runAdmin(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("tern admin", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, adminUsage, "\nFlags:\n"); fs.PrintDefaults() }
	path := fs.String("config", "", "daemon configuration `file` (its state directory)")
	state := fs.String("state", "", "state `directory` (overrides the configuration)")
	pwFile := fs.String("password-file", "", "read the password from `file`")
	words, err := parseInterleaved(fs, args)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if len(words) == 0 || (words[0] != "list" && len(words) != 2) {
		fs.Usage()
		return 2
	}
	fail := func(err error) int {
		fmt.Fprintf(stderr, "tern admin %s: %v\n", words[0], err)
		return 1
	}
	cfg, err := daemonConfig(*path, *state)
	if err != nil {
		return fail(err)
	}
	db, err := openStore(cfg.StateDir, logx.New(stderr, slog.LevelWarn, false))
	if err != nil {
		if errors.Is(err, errStateInUse) {
			err = fmt.Errorf("%w: stop \"tern serve\" first, or use the console's Admins page or the API (POST /api/v1/admins)", err)
		}
		return fail(err)
	}
	defer db.Close()
	st := admins.New(db)
	switch words[0] {
	case "list":
		list, err := st.List(ctx)
		if err != nil {
			return fail(err)
		}
		tw := tabwriter.NewWriter(stdout, 2, 8, 2, ' ', 0)
		fmt.Fprintln(tw, "NAME\tSTATUS\tLAST LOGIN")
		for _, a := range list {
			status := "active"
			switch {
			case a.Locked(time.Now()):
				status = "locked"
			case a.MustChange:
				status = "must change password"
			}
			last := "never"
			if !a.LastLogin.IsZero() {
				last = a.LastLogin.Local().Format("2006-01-02 15:04")
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\n", a.Name, status, last)
		}
		tw.Flush()
		return 0
	case "unlock":
		if err := st.Unlock(ctx, words[1]); err != nil {
			return fail(err)
		}
		cliAudit(ctx, db, "admin.unlock", words[1], "")
		fmt.Fprintf(stdout, "administrator %s unlocked\n", words[1])
		return 0
	case "create", "reset-password":
		name := words[1]
		if words[0] == "create" {
			if err := admins.ValidName(name); err != nil {
				return fail(err)
			}
			if _, err := st.Get(ctx, name); err == nil {
				return fail(fmt.Errorf("%w: %q (use reset-password)", admins.ErrExists, name))
			}
		} else if _, err := st.Get(ctx, name); err != nil {
			return fail(err)
		}
		pw, err := readNewPassword(*pwFile, stderr)
		if err != nil {
			return fail(err)
		}
		if words[0] == "create" {
			if _, err := st.Create(ctx, name, pw, true); err != nil {
				return fail(err)
			}
			cliAudit(ctx, db, "admin.create", name, "must change the password at first login")
			fmt.Fprintf(stdout, "administrator %s created; they choose a new password at the first login\n", name)
			return 0
		}
		if err := st.SetPassword(ctx, name, pw, true); err != nil {
			return fail(err)
		}
		if err := admins.NewSessions(db).DeleteFor(ctx, name, nil); err != nil {
			return fail(err)
		}
		cliAudit(ctx, db, "admin.password", name, "password reset")
		fmt.Fprintf(stdout, "password of %s reset; they choose a new one at the next login (their sessions ended)\n", name)
		return 0
	}
	fs.Usage()
	return 2
}

// cliAudit records what the command line changed, as administrator "cli".
func cliAudit(ctx context.Context, db *store.DB, action, name, detail string) {
	audit.New(db).Record(ctx, audit.Entry{Admin: "cli", Action: action, Object: "admin " + name, Detail: detail})
}

// readNewPassword reads a new password from a file, the terminal (twice,
// without echo) or standard input, and checks it against the policy.
func readNewPassword(file string, stderr io.Writer) (string, error) {
	var pw string
	switch {
	case file != "":
		b, err := os.ReadFile(file)
		if err != nil {
			return "", fmt.Errorf("password file: %w", err)
		}
		pw = strings.TrimRight(string(b), "\r\n")
	default:
		if tty, err := os.OpenFile("/dev/tty", os.O_RDWR, 0); err == nil && Stdin == os.Stdin && isTerminal(os.Stdin) {
			defer tty.Close()
			a, err := promptHidden(tty, "Password: ")
			if err != nil {
				return "", err
			}
			b, err := promptHidden(tty, "Again: ")
			if err != nil {
				return "", err
			}
			if a != b {
				return "", errors.New("the two passwords differ")
			}
			pw = a
		} else {
			line, err := bufio.NewReader(Stdin).ReadString('\n')
			if err != nil && (err != io.EOF || line == "") {
				return "", fmt.Errorf("read the password from standard input: %w", err)
			}
			pw = strings.TrimRight(line, "\r\n")
		}
	}
	logx.Redact(pw)
	return pw, admins.ValidPassword(pw)
}

func isTerminal(f *os.File) bool {
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

// promptHidden asks on the terminal with echo off (stty).
func promptHidden(tty *os.File, prompt string) (string, error) {
	fmt.Fprint(tty, prompt)
	stty := func(arg string) error {
		cmd := exec.Command("stty", arg)
		cmd.Stdin = tty
		return cmd.Run()
	}
	if err := stty("-echo"); err != nil {
		return "", fmt.Errorf("turn terminal echo off: %w", err)
	}
	line, err := bufio.NewReader(tty).ReadString('\n')
	stty("echo")
	fmt.Fprintln(tty)
	if err != nil {
		return "", err
	}
	return strings.TrimRight(line, "\r\n"), nil
}
