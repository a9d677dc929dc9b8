package imapconn

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"reflect"
	"strconv"
	"strings"
	"time"

	"github.com/ternmail/tern/plugins/internal/imapkit"
	"github.com/ternmail/tern/sdk/connector"
)

// Settings are a connector instance's settings (the JSON object described
// by the profile's schema, see schema.go).
type Settings struct {
	Host                string   `json:"host"`
	Port                int      `json:"port,omitempty"`
	TLS                 string   `json:"tls,omitempty"`
	AllowPlaintext      bool     `json:"allow_plaintext,omitempty"`
	CAFile              string   `json:"ca_file,omitempty"`
	InsecureSkipVerify  bool     `json:"insecure_skip_verify,omitempty"`
	AuthMechanism       string   `json:"auth_mechanism,omitempty"`
	MasterUserSeparator string   `json:"master_user_separator,omitempty"`
	MaxConnections      int      `json:"max_connections,omitempty"`
	PageSize            int      `json:"page_size,omitempty"`
	Timeouts            Timeouts `json:"timeouts,omitzero"`
}

// Timeouts are in seconds.
type Timeouts struct {
	Connect int `json:"connect,omitempty"`
	IO      int `json:"io,omitempty"`
}

// Defaults and limits of the settings.
const (
	DefaultMaxConnections      = 4
	MaxMaxConnections          = 32
	DefaultPageSize            = 1000
	MaxPageSize                = 10000
	DefaultMasterUserSeparator = "*"
)

// config is the validated form of Settings.
type config struct {
	addr           string
	host           string
	tls            imapkit.TLSMode
	caFile         string
	insecure       bool
	mechanism      imapkit.Mechanism
	masterSep      string
	maxConns       int
	pageSize       int
	connectTimeout time.Duration
	ioTimeout      time.Duration
}

func invalid(format string, args ...any) error {
	return connector.Errorf(connector.KindInvalid, "imap settings: "+format, args...)
}

// isSetting reports whether name is a setting's JSON name (top level, or
// "timeouts.<name>").
func isSetting(name string) bool {
	typ := reflect.TypeFor[Settings]()
	if sub, ok := strings.CutPrefix(name, "timeouts."); ok {
		name, typ = sub, reflect.TypeFor[Timeouts]()
	}
	for i := range typ.NumField() {
		if n, _, _ := strings.Cut(typ.Field(i).Tag.Get("json"), ","); n == name {
			return true
		}
	}
	return false
}

// parseSettings decodes raw settings, fills in the profile's defaults and
// validates them; its errors are KindInvalid and say which setting is
// wrong and why.
func (p *Profile) parseSettings(raw json.RawMessage) (*config, error) {
	var s Settings
	if len(bytes.TrimSpace(raw)) == 0 {
		return nil, invalid("host is required")
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&s); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) && te.Field != "" {
			return nil, invalid("%s must be of type %s", te.Field, jsonType(te.Type.Kind().String()))
		}
		return nil, invalid("%v", strings.TrimPrefix(err.Error(), "json: "))
	}
	if dec.More() {
		return nil, invalid("trailing data after the settings object")
	}
	p.applyDefaults(&s)
	return p.check(&s)
}

// check validates settings (the defaults already applied).
func (p *Profile) check(s *Settings) (*config, error) {
	c := &config{caFile: s.CAFile, insecure: s.InsecureSkipVerify}

	host := strings.TrimSpace(s.Host)
	switch {
	case host == "":
		return nil, invalid("host is required")
	case strings.Contains(host, "://"):
		return nil, invalid("host %q must be a host name, without a scheme", s.Host)
	case strings.ContainsAny(host, "/ \t@"):
		return nil, invalid("host %q is not a host name", s.Host)
	}
	if h, p, err := net.SplitHostPort(host); err == nil {
		return nil, invalid("host %q includes a port; set host %q and port %s", s.Host, h, p)
	}
	host = strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
	if strings.Contains(host, ":") && net.ParseIP(host) == nil {
		return nil, invalid("host %q is not a host name or IP address", s.Host)
	}
	c.host = host

	switch s.TLS {
	case "", "implicit":
		c.tls = imapkit.TLSImplicit
	case "starttls":
		c.tls = imapkit.TLSStartTLS
	case "none":
		if !s.AllowPlaintext {
			return nil, invalid(`tls "none" sends the password in plaintext; set allow_plaintext to true to accept that, or use "starttls" or "implicit"`)
		}
		c.tls = imapkit.TLSNone
	default:
		return nil, invalid(`tls must be "implicit", "starttls" or "none", not %q`, s.TLS)
	}

	port := s.Port
	switch {
	case port == 0 && c.tls == imapkit.TLSImplicit:
		port = 993
	case port == 0:
		port = 143
	case port < 1 || port > 65535:
		return nil, invalid("port %d is out of range (1-65535)", s.Port)
	}
	c.addr = net.JoinHostPort(host, strconv.Itoa(port))

	if c.tls == imapkit.TLSNone && (s.CAFile != "" || s.InsecureSkipVerify) {
		return nil, invalid(`ca_file and insecure_skip_verify apply to TLS; tls is "none"`)
	}
	if s.CAFile != "" && s.InsecureSkipVerify {
		return nil, invalid("ca_file and insecure_skip_verify exclude each other: with a CA file the certificate can be verified")
	}

	switch s.AuthMechanism {
	case "", "auto":
		c.mechanism = imapkit.MechAuto
	case "plain":
		c.mechanism = imapkit.MechPlain
	case "login":
		c.mechanism = imapkit.MechLogin
	default:
		return nil, invalid(`auth_mechanism must be "auto", "plain" or "login", not %q`, s.AuthMechanism)
	}

	c.masterSep = s.MasterUserSeparator
	if c.masterSep == "" {
		c.masterSep = DefaultMasterUserSeparator
	}
	if len(c.masterSep) > 8 || strings.ContainsFunc(c.masterSep, func(r rune) bool { return r <= ' ' || r == 0x7f }) {
		return nil, invalid("master_user_separator %q must be 1 to 8 characters without spaces or control characters", s.MasterUserSeparator)
	}

	var err error
	if c.maxConns, err = intSetting("max_connections", s.MaxConnections, DefaultMaxConnections, 1, MaxMaxConnections); err != nil {
		return nil, err
	}
	if c.pageSize, err = intSetting("page_size", s.PageSize, DefaultPageSize, 1, MaxPageSize); err != nil {
		return nil, err
	}
	connect, err := intSetting("timeouts.connect", s.Timeouts.Connect, 30, 1, 600)
	if err != nil {
		return nil, err
	}
	io, err := intSetting("timeouts.io", s.Timeouts.IO, 120, 5, 3600)
	if err != nil {
		return nil, err
	}
	c.connectTimeout, c.ioTimeout = time.Duration(connect)*time.Second, time.Duration(io)*time.Second
	return c, nil
}

func intSetting(name string, v, def, lo, hi int) (int, error) {
	if v == 0 {
		return def, nil
	}
	if v < lo || v > hi {
		return 0, invalid("%s must be between %d and %d, not %d", name, lo, hi, v)
	}
	return v, nil
}

func jsonType(kind string) string {
	switch {
	case strings.HasPrefix(kind, "int"), strings.HasPrefix(kind, "uint"):
		return "integer"
	case kind == "bool":
		return "boolean"
	case kind == "struct":
		return "object"
	}
	return kind
}

func (c *config) String() string {
	return fmt.Sprintf("%s (tls %s)", c.addr, c.tls)
}
