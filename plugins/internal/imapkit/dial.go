package imapkit

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strings"
	"sync/atomic"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"

	"github.com/ternmail/tern/sdk/connector"
)

// TLSMode says how a connection is protected.
type TLSMode string

// The TLS modes.
const (
	// TLSImplicit starts TLS at once (port 993, RFC 8314).
	TLSImplicit TLSMode = "implicit"
	// TLSStartTLS connects in plaintext and upgrades with STARTTLS before
	// anything else (port 143); a server that refuses is an error, never a
	// reason to go on unencrypted.
	TLSStartTLS TLSMode = "starttls"
	// TLSNone sends everything, password included, in plaintext.
	TLSNone TLSMode = "none"
)

// Default timeouts.
const (
	DefaultConnectTimeout = 30 * time.Second
	DefaultIOTimeout      = 2 * time.Minute
)

// Options say how to reach a server and log in.
type Options struct {
	// Address is host:port.
	Address string
	// TLS is the TLS mode; "" means TLSImplicit.
	TLS TLSMode
	// TLSConfig verifies the server; nil means the system's roots. Its
	// ServerName defaults to Address's host.
	TLSConfig *tls.Config
	// ConnectTimeout bounds the TCP connect, the TLS handshake and the
	// greeting; 0 means DefaultConnectTimeout.
	ConnectTimeout time.Duration
	// IOTimeout is the longest the server may stay silent (or refuse to
	// take data) while a command is in progress; 0 means DefaultIOTimeout.
	IOTimeout time.Duration
	// Login authenticates the connection; nil leaves it unauthenticated.
	Login Login
	// Logger receives connection events at debug level and, when it logs
	// connector.LevelTrace, the protocol trace with credentials redacted
	// (message contents only at connector.LevelTraceData).
	Logger *slog.Logger
}

// TLSConfig returns a client TLS configuration for host: verification
// against the system's roots, or against the PEM certificates in caFile
// if set, or none at all with insecure (for tests and labs only). Its
// session cache lets the connections of a pool resume TLS sessions
// instead of doing full handshakes.
func TLSConfig(host, caFile string, insecure bool) (*tls.Config, error) {
	cfg := &tls.Config{
		ServerName:         host,
		MinVersion:         tls.VersionTLS12,
		InsecureSkipVerify: insecure,
		ClientSessionCache: tls.NewLRUClientSessionCache(32),
	}
	if caFile != "" && !insecure {
		pem, err := os.ReadFile(caFile)
		if err != nil {
			return nil, fmt.Errorf("read CA file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("CA file %s holds no PEM certificate", caFile)
		}
		cfg.RootCAs = pool
	}
	return cfg, nil
}

var connSeq atomic.Uint64

// link is a connected and protected byte stream to a server, before any
// IMAP client reads from it: what Dial and DialAppend share.
type link struct {
	id   string
	log  *slog.Logger
	mode TLSMode
	wc   *wireConn
	// tls is the TLS state, nil without TLS.
	tls *tls.ConnectionState
	// greeting is the greeting read before STARTTLS ("OK ..."), "" if
	// there was no STARTTLS.
	greeting string
}

// defaults returns o's logger, timeouts and TLS mode with the defaults
// filled in.
func (o *Options) defaults() (log *slog.Logger, connectTimeout, ioTimeout time.Duration, mode TLSMode) {
	log = o.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	connectTimeout, ioTimeout = o.ConnectTimeout, o.IOTimeout
	if connectTimeout <= 0 {
		connectTimeout = DefaultConnectTimeout
	}
	if ioTimeout <= 0 {
		ioTimeout = DefaultIOTimeout
	}
	mode = o.TLS
	if mode == "" {
		mode = TLSImplicit
	}
	return log, connectTimeout, ioTimeout, mode
}

// dialLink connects to o.Address within cctx (the connect timeout) and
// protects the connection as o.TLS says. After STARTTLS, the link serves
// a synthetic greeting first: the real one was read before the upgrade
// (RFC 9051 §6.2.1: none follows it). ctx is the caller's context, for
// classifying errors.
func dialLink(ctx, cctx context.Context, o *Options) (*link, error) {
	log, _, ioTimeout, mode := o.defaults()
	l := &link{id: fmt.Sprintf("imap-%d", connSeq.Add(1)), log: log, mode: mode}
	tr := newTracer(log, l.id)

	raw, err := (&net.Dialer{KeepAlive: 30 * time.Second}).DialContext(cctx, "tcp", o.Address)
	if err != nil {
		return nil, dialError(ctx, err, "connect to "+o.Address)
	}
	var inner net.Conn = raw
	var prefix []byte
	if mode != TLSNone {
		cfg := o.TLSConfig.Clone()
		if cfg == nil {
			cfg = &tls.Config{MinVersion: tls.VersionTLS12}
		}
		if cfg.ServerName == "" {
			host, _, _ := net.SplitHostPort(o.Address)
			cfg.ServerName = host
		}
		if mode == TLSStartTLS {
			if l.greeting, err = startTLS(cctx, raw, tr); err != nil {
				raw.Close()
				return nil, dialError(ctx, err, "STARTTLS with "+o.Address)
			}
			prefix = []byte("* OK TLS negotiated with STARTTLS\r\n")
		}
		tc := tls.Client(raw, cfg)
		if err := tc.HandshakeContext(cctx); err != nil {
			raw.Close()
			return nil, dialError(ctx, err, "TLS handshake with "+o.Address)
		}
		st := tc.ConnectionState()
		l.tls = &st
		inner = tc
	}
	l.wc = newWireConn(inner, ioTimeout, tr)
	l.wc.prefix = prefix
	return l, nil
}

// Dial connects, protects the connection as o.TLS says, waits for the
// greeting and logs in. Errors are classified: an unreachable server or a
// dropped connection is KindUnavailable, a certificate that does not
// verify KindInvalid, a refused login KindAuth.
//
// A Login that go-imap cannot send (PROXYAUTH) is done by imapkit's own
// client on the same connection before go-imap sees it, as STARTTLS is;
// go-imap then gets a synthetic PREAUTH greeting that carries the
// capabilities after the login, and starts in the authenticated state.
func Dial(ctx context.Context, o *Options) (*Conn, error) {
	_, connectTimeout, _, _ := o.defaults()
	cctx, cancel := context.WithTimeout(ctx, connectTimeout)
	defer cancel()
	l, err := dialLink(ctx, cctx, o)
	if err != nil {
		return nil, err
	}
	if _, raw := o.Login.(rawLogin); raw {
		ac, err := startAppendConn(ctx, cctx, l, o)
		if err != nil {
			return nil, err
		}
		l.wc.prefix = ac.handOver()
	}
	c := &Conn{
		Client: imapclient.New(l.wc, &imapclient.Options{}),
		ID:     l.id,
		Addr:   o.Address,
		wc:     l.wc,
		log:    l.log,
	}
	fail := func(err error) (*Conn, error) {
		c.Client.Close()
		return nil, err
	}
	if err := c.Do(cctx, "greeting from "+o.Address, c.Client.WaitGreeting); err != nil {
		return fail(dialError(ctx, err, "greeting from "+o.Address))
	}
	if err := c.loadCaps(cctx); err != nil {
		return fail(dialError(ctx, err, "capabilities of "+o.Address))
	}
	if c.Client.State() == imap.ConnStateNotAuthenticated && o.Login != nil {
		if err := o.Login.Authenticate(ctx, c); err != nil {
			return fail(authError(err))
		}
		// Capabilities change with the login (RFC 9051 §6.2.3).
		if err := c.loadCaps(ctx); err != nil {
			return fail(err)
		}
	}
	c.lastUsed = time.Now()
	l.log.Debug("imap connection ready", "conn", l.id, "addr", o.Address, "tls", string(l.mode), "state", c.Client.State().String())
	return c, nil
}

func (c *Conn) loadCaps(ctx context.Context) error {
	return c.Do(ctx, "capabilities of "+c.Addr, func() error {
		caps := c.Client.Caps()
		if caps == nil {
			return errors.New("no CAPABILITY answer")
		}
		c.caps = caps
		return nil
	})
}

// dialError classifies an error of the connect phase: the caller's
// context ending is reported as such, a connect timeout as
// KindUnavailable.
func dialError(ctx context.Context, err error, what string) error {
	if e := ctxErr(ctx, what); e != nil {
		return e
	}
	var ce *connector.Error
	if errors.As(err, &ce) {
		return err
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return connector.Errorf(connector.KindUnavailable, "%s: no answer within the connect timeout", what)
	}
	return classifyIO(err, what, "")
}

// startTLS reads the greeting and upgrades with STARTTLS on the raw
// connection, before the client library sees it. Doing it here (rather
// than with imapclient's STARTTLS) keeps every byte after the upgrade
// flowing through wireConn, where the trace sees the plaintext. It refuses
// a PREAUTH greeting (RFC 9051 §7.1.4) and a server that sends anything
// between its OK and the TLS handshake (a command injection, CVE-2011-0411
// style).
func startTLS(ctx context.Context, raw net.Conn, tr *tracer) (greeting string, err error) {
	if dl, ok := ctx.Deadline(); ok {
		raw.SetDeadline(dl)
	}
	stop := context.AfterFunc(ctx, func() { raw.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	defer raw.SetDeadline(time.Time{})

	br := bufio.NewReaderSize(raw, 4096)
	readLine := func() (string, error) {
		line, err := br.ReadSlice('\n')
		if err != nil {
			if errors.Is(err, bufio.ErrBufferFull) {
				return "", connector.Errorf(connector.KindUnavailable, "server line longer than %d bytes", br.Size())
			}
			return "", err
		}
		line = trimEOL(line)
		if tr != nil {
			tr.serverLine(line, len(line), 0)
		}
		return string(line), nil
	}
	line, err := readLine()
	if err != nil {
		return "", err
	}
	greeting = line
	switch {
	case hasPrefixFold(greeting, "* OK"):
	case hasPrefixFold(greeting, "* PREAUTH"):
		return "", connector.Errorf(connector.KindInvalid, "server greets with PREAUTH, so STARTTLS is impossible; refusing to continue unencrypted")
	case hasPrefixFold(greeting, "* BYE"):
		return "", FromResponse(&imap.Error{Type: imap.StatusResponseTypeBye, Text: strings.TrimSpace(greeting[len("* BYE"):])}, "greeting")
	default:
		return "", connector.Errorf(connector.KindUnavailable, "unexpected greeting %q", greeting)
	}
	const cmd = "S1 STARTTLS"
	if tr != nil {
		tr.clientLine([]byte(cmd), len(cmd)+2, 0)
	}
	if _, err := raw.Write([]byte(cmd + "\r\n")); err != nil {
		return "", err
	}
	for {
		line, err := readLine()
		if err != nil {
			return "", err
		}
		if strings.HasPrefix(line, "* ") {
			continue
		}
		if !strings.HasPrefix(line, "S1 ") {
			return "", connector.Errorf(connector.KindUnavailable, "unexpected answer to STARTTLS: %q", line)
		}
		if hasPrefixFold(line[3:], "OK") {
			break
		}
		return "", connector.Errorf(connector.KindInvalid, "server refused STARTTLS: %s (use tls \"implicit\" if it offers port 993)", line[3:])
	}
	if br.Buffered() > 0 {
		return "", connector.Errorf(connector.KindUnavailable, "server sent %d unexpected bytes after accepting STARTTLS; refusing the connection", br.Buffered())
	}
	return strings.TrimSpace(greeting[1:]), nil
}

func hasPrefixFold(s, prefix string) bool {
	return len(s) >= len(prefix) && strings.EqualFold(s[:len(prefix)], prefix)
}
