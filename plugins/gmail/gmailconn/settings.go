package gmailconn

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/ternmail/tern/sdk/connector"
)

// Defaults of the settings.
const (
	DefaultEndpoint          = "https://gmail.googleapis.com/"
	DefaultDirectoryEndpoint = "https://admin.googleapis.com/"
	DefaultUnitsPerMinute    = 15000
	DefaultMaxRetries        = 8
	DefaultResumableAbove    = 5 << 20
	DefaultReservedSuffix    = " (imported)"
	DefaultSentLabel         = "Sent" + DefaultReservedSuffix
	DefaultDraftsLabel       = "Drafts" + DefaultReservedSuffix
	DefaultKeywordPrefix     = "Keywords/"
)

// MaxMessageSize is the largest message users.messages.import accepts:
// the discovery document's maxSize for the media upload (50 MiB).
const MaxMessageSize = 52428800

// Settings are a connector instance's settings (see the schema).
type Settings struct {
	Endpoint           string `json:"endpoint"`
	DirectoryEndpoint  string `json:"directory_endpoint"`
	AdminEmail         string `json:"admin_email"`
	Customer           string `json:"customer"`
	CAFile             string `json:"ca_file"`
	InsecureSkipVerify bool   `json:"insecure_skip_verify"`
	KeywordLabels      bool   `json:"keyword_labels"`
	KeywordPrefix      string `json:"keyword_label_prefix"`
	SentLabel          string `json:"sent_label"`
	DraftsLabel        string `json:"drafts_label"`
	ListInEveryLabel   bool   `json:"list_in_every_label"`
	UnitsPerMinute     int    `json:"units_per_minute"`
	MaxRetries         int    `json:"max_retries"`
	ResumableAbove     int    `json:"resumable_above"`
	DateNoteTolerance  int    `json:"date_note_tolerance"`
}

// schema is the settings' JSON Schema. Every field of Settings is in it
// (a test checks).
const schema = `{
  "$schema": "https://json-schema.org/draft/2020-12/schema",
  "title": "Google Workspace (Gmail API)",
  "description": "Imports into and reads from Gmail mailboxes through the Gmail API with a service account that has domain-wide delegation. Give the connector the service account's JSON key as its magic password (administrator password without an administrator user): every mailbox is opened by impersonating its user. In the Google Admin console (Security → API controls → Domain-wide delegation) authorise the service account's client ID for https://www.googleapis.com/auth/gmail.modify (target), https://www.googleapis.com/auth/gmail.readonly (source) and, for user listing, https://www.googleapis.com/auth/admin.directory.user.readonly.",
  "type": "object",
  "additionalProperties": false,
  "properties": {
    "admin_email": {"type": "string", "title": "Administrator address", "maxLength": 320,
      "description": "A Workspace administrator the service account impersonates to list users through the Admin SDK Directory API (scope admin.directory.user.readonly). Needed for automated user retrieval and nothing else."},
    "customer": {"type": "string", "title": "Customer ID", "default": "my_customer", "maxLength": 64,
      "description": "The Workspace customer whose users are listed; my_customer is the administrator's own."},
    "sent_label": {"type": "string", "title": "Label for sent mail", "default": "Sent (imported)", "maxLength": 200,
      "description": "Gmail's SENT label cannot be set by an import, so sent folders become this label (and each message's report says so)."},
    "drafts_label": {"type": "string", "title": "Label for drafts", "default": "Drafts (imported)", "maxLength": 200,
      "description": "Gmail's DRAFT label cannot be set by an import, so drafts folders become this label (and each message's report says so)."},
    "keyword_labels": {"type": "boolean", "title": "Keywords as labels", "default": false,
      "description": "Store IMAP keywords ($Label1, custom tags) as Gmail labels under the keyword label prefix. Off: keywords are dropped and the report lists them per message."},
    "keyword_label_prefix": {"type": "string", "title": "Keyword label prefix", "default": "Keywords/", "maxLength": 100,
      "description": "Keyword labels are named this prefix followed by the keyword; a prefix ending in / nests them under one parent label."},
    "list_in_every_label": {"type": "boolean", "title": "Source: list a message in each of its labels", "default": false,
      "description": "As a source, list a message in every label it has (one copy per folder on the target, like Gmail's IMAP). Off: each message is listed once, in its primary folder (TRASH, SPAM, INBOX, SENT, DRAFT, then the first user label by name, else the Archive folder)."},
    "units_per_minute": {"type": "integer", "title": "Quota units per user and minute", "default": 15000, "minimum": 100, "maximum": 15000,
      "description": "The pace the connector keeps per mailbox, in Gmail quota units (an import costs 25). Google's per-user ceiling is 15,000; lower it when other tools share the project's quota."},
    "max_retries": {"type": "integer", "title": "Retries", "default": 8, "minimum": 0, "maximum": 20,
      "description": "How often one call is retried, with exponential backoff and jitter, after a rate-limit answer (403 userRateLimitExceeded or rateLimitExceeded, 429) or a server error of a call that is safe to repeat."},
    "resumable_above": {"type": "integer", "title": "Resumable uploads above (bytes)", "default": 5242880, "minimum": 262144, "maximum": 52428800,
      "description": "Messages up to this size are imported in one multipart request; larger ones with a resumable upload in chunks of this size (rounded up to 256 KiB)."},
    "date_note_tolerance": {"type": "integer", "title": "Date note tolerance (seconds)", "default": 3600, "minimum": 0,
      "description": "Gmail dates an imported message by its Date: header, not by the source's received date. When the two differ by more than this, the report notes it for the message."},
    "endpoint": {"type": "string", "title": "Gmail API endpoint", "default": "https://gmail.googleapis.com/", "maxLength": 2048,
      "description": "Base URL of the Gmail API. Change it only for tests (an emulator)."},
    "directory_endpoint": {"type": "string", "title": "Directory API endpoint", "default": "https://admin.googleapis.com/", "maxLength": 2048,
      "description": "Base URL of the Admin SDK. Change it only for tests (an emulator)."},
    "ca_file": {"type": "string", "title": "CA certificate file", "maxLength": 4096,
      "description": "Path on the appliance to a PEM file with an extra certificate authority for the API and token endpoints (for an emulator or a TLS-inspecting proxy). Empty: the system's authorities."},
    "insecure_skip_verify": {"type": "boolean", "title": "Skip certificate verification", "default": false,
      "description": "Accept any certificate from the API and token endpoints. For tests only."}
  }
}`

// parseSettings decodes and checks settings and fills in defaults.
func parseSettings(raw json.RawMessage) (*Settings, error) {
	s := &Settings{}
	if len(bytes.TrimSpace(raw)) > 0 && string(bytes.TrimSpace(raw)) != "null" {
		dec := json.NewDecoder(bytes.NewReader(raw))
		dec.DisallowUnknownFields()
		if err := dec.Decode(s); err != nil {
			return nil, connector.Errorf(connector.KindInvalid, "gmail settings: %v", err)
		}
	}
	if s.Endpoint == "" {
		s.Endpoint = DefaultEndpoint
	}
	if s.DirectoryEndpoint == "" {
		s.DirectoryEndpoint = DefaultDirectoryEndpoint
	}
	for _, e := range []*string{&s.Endpoint, &s.DirectoryEndpoint} {
		u, err := url.Parse(*e)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			return nil, connector.Errorf(connector.KindInvalid, "gmail settings: endpoint %q is not an http(s) URL", *e)
		}
		if !strings.HasSuffix(*e, "/") {
			*e += "/"
		}
	}
	if s.Customer == "" {
		s.Customer = "my_customer"
	}
	if s.SentLabel == "" {
		s.SentLabel = DefaultSentLabel
	}
	if s.DraftsLabel == "" {
		s.DraftsLabel = DefaultDraftsLabel
	}
	if s.KeywordPrefix == "" {
		s.KeywordPrefix = DefaultKeywordPrefix
	}
	if s.UnitsPerMinute <= 0 {
		s.UnitsPerMinute = DefaultUnitsPerMinute
	}
	if s.UnitsPerMinute < 100 {
		s.UnitsPerMinute = 100
	}
	if s.MaxRetries < 0 {
		s.MaxRetries = 0
	} else if s.MaxRetries == 0 {
		s.MaxRetries = DefaultMaxRetries
	}
	if s.ResumableAbove <= 0 {
		s.ResumableAbove = DefaultResumableAbove
	}
	if s.DateNoteTolerance < 0 {
		s.DateNoteTolerance = 0
	} else if s.DateNoteTolerance == 0 {
		s.DateNoteTolerance = 3600
	}
	return s, nil
}

func (s *Settings) dateTolerance() time.Duration {
	return time.Duration(s.DateNoteTolerance) * time.Second
}

// baseTransport returns the HTTP transport for the API and token calls,
// with the settings' TLS options.
func (s *Settings) baseTransport() (http.RoundTripper, error) {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConnsPerHost = 16
	if s.CAFile == "" && !s.InsecureSkipVerify {
		return t, nil
	}
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, InsecureSkipVerify: s.InsecureSkipVerify}
	if s.CAFile != "" {
		pem, err := os.ReadFile(s.CAFile)
		if err != nil {
			return nil, connector.Errorf(connector.KindInvalid, "gmail settings: CA file: %v", err)
		}
		pool, err := x509.SystemCertPool()
		if err != nil || pool == nil {
			pool = x509.NewCertPool()
		}
		if !pool.AppendCertsFromPEM(pem) {
			return nil, connector.Errorf(connector.KindInvalid, "gmail settings: CA file %s holds no PEM certificate", s.CAFile)
		}
		cfg.RootCAs = pool
	}
	t.TLSClientConfig = cfg
	return t, nil
}

// String describes the settings for logs (they hold no secret).
func (s *Settings) String() string {
	return fmt.Sprintf("endpoint=%s", s.Endpoint)
}

// DefaultSettings returns the settings of an empty configuration.
func DefaultSettings() *Settings {
	s, _ := parseSettings(nil)
	return s
}
