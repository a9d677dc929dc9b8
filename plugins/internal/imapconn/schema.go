package imapconn

import (
	"bytes"
	"encoding/json"
	"strconv"
)

// prop is one property of the settings schema. The schema is built from
// these (not written out as JSON) so that each profile can retitle it,
// describe settings its own way and change defaults, while the settings
// and their limits stay one list, in the order the console shows them.
type prop struct {
	name        string
	typ         string
	title       string
	description string
	enum        []string
	def         any // nil: none
	min, max    int // for integers; 0,0: none
	minLen      int
	maxLen      int
	sub         []prop // for objects
}

// baseProps are the settings of every IMAP profile, in order; keep them
// in step with Settings and check (a test checks that every field is
// described).
var baseProps = []prop{
	{name: "host", typ: "string", title: "Server",
		description: "Host name or IP address of the IMAP server, without port or scheme, e.g. imap.example.com. With TLS, the server's certificate must be valid for this name.",
		minLen:      1, maxLen: 253},
	{name: "port", typ: "integer", title: "Port",
		description: "TCP port. Leave empty for the default of the TLS mode: 993 for implicit TLS, 143 for STARTTLS and plaintext.",
		min:         1, max: 65535},
	{name: "tls", typ: "string", title: "Encryption",
		description: "implicit: TLS from the first byte (usually port 993). starttls: connect in plaintext and upgrade with STARTTLS before logging in; a server that refuses is an error (usually port 143). none: no encryption at all, password included; only with 'Allow plaintext'.",
		enum:        []string{"implicit", "starttls", "none"}, def: "implicit"},
	{name: "allow_plaintext", typ: "boolean", title: "Allow plaintext",
		description: "Must be set to use encryption 'none'. Passwords and mail then cross the network readable by anyone on the path.",
		def:         false},
	{name: "ca_file", typ: "string", title: "CA certificate file",
		description: "Path on the appliance to a PEM file with the certificate authority that signed the server's certificate, for servers with a private CA. Empty: the system's trusted authorities.",
		maxLen:      4096},
	{name: "insecure_skip_verify", typ: "boolean", title: "Skip certificate verification",
		description: "Accept any certificate, even a forged one. For tests and labs only: anyone on the path can read the password.",
		def:         false},
	{name: "auth_mechanism", typ: "string", title: "Login method",
		description: "auto: AUTHENTICATE PLAIN when the server offers it, else LOGIN. plain: always AUTHENTICATE PLAIN (SASL, RFC 4616). login: always the IMAP LOGIN command. Applies to users' own passwords, the magic password and the administrator's login; the administrator method \"authzid\" always uses AUTHENTICATE PLAIN.",
		enum:        []string{"auto", "plain", "login"}, def: "auto"},
	{name: "master_user_separator", typ: "string", title: "Master-user separator",
		description: "For the administrator method \"master user\": the login string is the user's name, this separator and the administrator's name, e.g. alice*admin, as Dovecot's auth_master_user_separator (and UW-IMAP) want it.",
		def:         DefaultMasterUserSeparator, minLen: 1, maxLen: 8},
	{name: "max_connections", typ: "integer", title: "Connections per mailbox",
		description: "How many IMAP connections one mailbox session may open, so that several messages are fetched or stored in parallel. Servers limit connections per user and IP (Dovecot: 10 by default; Microsoft 365 and Gmail: about 15 to 20 across all clients).",
		min:         1, max: MaxMaxConnections, def: DefaultMaxConnections},
	{name: "page_size", typ: "integer", title: "Listing page size",
		description: "How many messages' metadata one UID FETCH asks for when listing a folder. Larger pages mean fewer round trips.",
		min:         1, max: MaxPageSize, def: DefaultPageSize},
	{name: "timeouts", typ: "object", title: "Timeouts", sub: []prop{
		{name: "connect", typ: "integer", title: "Connect timeout (seconds)",
			description: "Longest wait for the TCP connection, the TLS handshake and the server's greeting.",
			min:         1, max: 600, def: 30},
		{name: "io", typ: "integer", title: "Inactivity timeout (seconds)",
			description: "Longest time the server may stay silent while a command is in progress before the connection is given up (and the command retried on a new one).",
			min:         5, max: 3600, def: 120},
	}},
}

// buildSchema renders the profile's settings schema (JSON Schema draft
// 2020-12), properties in the order of baseProps.
func (p *Profile) buildSchema() json.RawMessage {
	var b bytes.Buffer
	b.WriteString(`{"$schema":"https://json-schema.org/draft/2020-12/schema","title":`)
	writeJSON(&b, p.Title)
	if p.Description != "" {
		b.WriteString(`,"description":`)
		writeJSON(&b, p.Description)
	}
	b.WriteString(`,"type":"object","required":["host"],"additionalProperties":false,"properties":`)
	p.writeProps(&b, baseProps, "")
	b.WriteString("}")
	var out bytes.Buffer
	if err := json.Indent(&out, b.Bytes(), "", "  "); err != nil {
		panic("imapconn: settings schema: " + err.Error())
	}
	return out.Bytes()
}

func (p *Profile) writeProps(b *bytes.Buffer, props []prop, path string) {
	b.WriteString("{")
	for i, pr := range props {
		if i > 0 {
			b.WriteString(",")
		}
		name := path + pr.name
		writeJSON(b, pr.name)
		b.WriteString(`:{"type":`)
		writeJSON(b, pr.typ)
		b.WriteString(`,"title":`)
		writeJSON(b, pr.title)
		desc := pr.description
		if d, ok := p.SettingDescriptions[name]; ok {
			desc = d
		}
		if desc != "" {
			b.WriteString(`,"description":`)
			writeJSON(b, desc)
		}
		if pr.enum != nil {
			b.WriteString(`,"enum":`)
			writeJSON(b, pr.enum)
		}
		if pr.min != 0 || pr.max != 0 {
			b.WriteString(`,"minimum":` + strconv.Itoa(pr.min) + `,"maximum":` + strconv.Itoa(pr.max))
		}
		if pr.minLen > 0 {
			b.WriteString(`,"minLength":` + strconv.Itoa(pr.minLen))
		}
		if pr.maxLen > 0 {
			b.WriteString(`,"maxLength":` + strconv.Itoa(pr.maxLen))
		}
		def := pr.def
		if d, ok := p.Defaults[name]; ok {
			def = d
		}
		if def != nil {
			b.WriteString(`,"default":`)
			writeJSON(b, def)
		}
		if pr.sub != nil {
			b.WriteString(`,"additionalProperties":false,"properties":`)
			p.writeProps(b, pr.sub, name+".")
		}
		b.WriteString("}")
	}
	b.WriteString("}")
}

func writeJSON(b *bytes.Buffer, v any) {
	var out bytes.Buffer
	enc := json.NewEncoder(&out)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		panic("imapconn: settings schema: " + err.Error())
	}
	b.Write(bytes.TrimSuffix(out.Bytes(), []byte("\n")))
}
