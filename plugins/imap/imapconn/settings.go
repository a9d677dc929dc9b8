package imapconn

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/ternmail/tern/plugins/internal/imapkit"
	"github.com/ternmail/tern/sdk/connector"
)

// Settings are a connector instance's settings (the JSON object described
// by settingsSchema).
type Settings struct {
	Host               string   `json:"host"`
	Port               int      `json:"port,omitempty"`
	TLS                string   `json:"tls,omitempty"`
	AllowPlaintext     bool     `json:"allow_plaintext,omitempty"`
	CAFile             string   `json:"ca_file,omitempty"`
	InsecureSkipVerify bool     `json:"insecure_skip_verify,omitempty"`
	AuthMechanism      string   `json:"auth_mechanism,omitempty"`
	MaxConnections     int      `json:"max_connections,omitempty"`
	PageSize           int      `json:"page_size,omitempty"`
	Timeouts           Timeouts `json:"timeouts,omitzero"`
}

// Timeouts are in seconds.
type Timeouts struct {
	Connect int `json:"connect,omitempty"`
	IO      int `json:"io,omitempty"`
}

// Defaults and limits of the settings.
const (
	DefaultMaxConnections = 4
	MaxMaxConnections     = 32
	DefaultPageSize       = 1000
	MaxPageSize           = 10000
)

// settingsSchema is returned by Describe; keep it in step with Settings
// and parseSettings (a test checks that every field is described).
const settingsSchema = `{
  "$schema": "https://json-schema.org/draft/2020-12/schema",
  "title": "IMAP server",
  "description": "Any IMAP4rev1 server: Dovecot, Cyrus, Courier, Exchange, Zimbra, a hosting provider's mail service.",
  "type": "object",
  "required": ["host"],
  "additionalProperties": false,
  "properties": {
    "host": {
      "type": "string",
      "title": "Server",
      "description": "Host name or IP address of the IMAP server, without port or scheme, e.g. imap.example.com. With TLS, the server's certificate must be valid for this name.",
      "minLength": 1,
      "maxLength": 253
    },
    "port": {
      "type": "integer",
      "title": "Port",
      "description": "TCP port. Leave empty for the default of the TLS mode: 993 for implicit TLS, 143 for STARTTLS and plaintext.",
      "minimum": 1,
      "maximum": 65535
    },
    "tls": {
      "type": "string",
      "title": "Encryption",
      "description": "implicit: TLS from the first byte (usually port 993). starttls: connect in plaintext and upgrade with STARTTLS before logging in; a server that refuses is an error (usually port 143). none: no encryption at all, password included; only with 'Allow plaintext'.",
      "enum": ["implicit", "starttls", "none"],
      "default": "implicit"
    },
    "allow_plaintext": {
      "type": "boolean",
      "title": "Allow plaintext",
      "description": "Must be set to use encryption 'none'. Passwords and mail then cross the network readable by anyone on the path.",
      "default": false
    },
    "ca_file": {
      "type": "string",
      "title": "CA certificate file",
      "description": "Path on the appliance to a PEM file with the certificate authority that signed the server's certificate, for servers with a private CA. Empty: the system's trusted authorities.",
      "maxLength": 4096
    },
    "insecure_skip_verify": {
      "type": "boolean",
      "title": "Skip certificate verification",
      "description": "Accept any certificate, even a forged one. For tests and labs only: anyone on the path can read the password.",
      "default": false
    },
    "auth_mechanism": {
      "type": "string",
      "title": "Login method",
      "description": "auto: AUTHENTICATE PLAIN when the server offers it, else LOGIN. plain: always AUTHENTICATE PLAIN (SASL, RFC 4616). login: always the IMAP LOGIN command.",
      "enum": ["auto", "plain", "login"],
      "default": "auto"
    },
    "max_connections": {
      "type": "integer",
      "title": "Connections per mailbox",
      "description": "How many IMAP connections one mailbox session may open, so that several messages are fetched or stored in parallel. Servers limit connections per user and IP (Dovecot: 10 by default; Microsoft 365 and Gmail: about 15 to 20 across all clients).",
      "minimum": 1,
      "maximum": 32,
      "default": 4
    },
    "page_size": {
      "type": "integer",
      "title": "Listing page size",
      "description": "How many messages' metadata one UID FETCH asks for when listing a folder. Larger pages mean fewer round trips.",
      "minimum": 1,
      "maximum": 10000,
      "default": 1000
    },
    "timeouts": {
      "type": "object",
      "title": "Timeouts",
      "additionalProperties": false,
      "properties": {
        "connect": {
          "type": "integer",
          "title": "Connect timeout (seconds)",
          "description": "Longest wait for the TCP connection, the TLS handshake and the server's greeting.",
          "minimum": 1,
          "maximum": 600,
          "default": 30
        },
        "io": {
          "type": "integer",
          "title": "Inactivity timeout (seconds)",
          "description": "Longest time the server may stay silent while a command is in progress before the connection is given up (and the command retried on a new one).",
          "minimum": 5,
          "maximum": 3600,
          "default": 120
        }
      }
    }
  }
}`

// config is the validated form of Settings.
type config struct {
	addr           string
	host           string
	tls            imapkit.TLSMode
	caFile         string
	insecure       bool
	mechanism      imapkit.Mechanism
	maxConns       int
	pageSize       int
	connectTimeout time.Duration
	ioTimeout      time.Duration
}

func invalid(format string, args ...any) error {
	return connector.Errorf(connector.KindInvalid, "imap settings: "+format, args...)
}

// parseSettings decodes and validates raw settings; its errors are
// KindInvalid and say which setting is wrong and why.
func parseSettings(raw json.RawMessage) (*config, error) {
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
