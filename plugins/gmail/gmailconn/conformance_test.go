package gmailconn_test

import (
	"bufio"
	"bytes"
	"net/mail"
	"strings"
	"testing"
	"time"

	"github.com/ternmail/tern/plugins/gmail/gmailtest"
	"github.com/ternmail/tern/sdk/connector"
	"github.com/ternmail/tern/sdk/connectortest"
)

// TestConformance runs the SDK's suite against the connector on the
// emulator, in process and over the plugin protocol.
func TestConformance(t *testing.T) {
	e := newEnv(t)
	undelegated := e.srv.AddServiceAccount(gmailtest.ServiceAccountConfig{Name: "undelegated", Scopes: []string{}})
	connectortest.Run(t, connectortest.Harness{
		Connector: e.conn,
		Mailbox: func(t *testing.T) *connector.OpenRequest {
			return e.request(e.user("conf"), nil)
		},
		BadCredential: func(t *testing.T) *connector.OpenRequest {
			req := e.request(e.user("bad"), nil)
			req.Credential.Secret = string(undelegated.KeyJSON())
			return req
		},
		Keeps: gmailKeeps,
	})
}

// gmailKeeps is what Gmail keeps of an imported message: the date of its
// Date: header (the import time without a valid one) and, of the flags,
// \Seen (no UNREAD) and \Flagged (STARRED).
func gmailKeeps(m connectortest.SeedMessage) (time.Time, []string) {
	var date time.Time
	if msg, err := mail.ReadMessage(bufio.NewReader(bytes.NewReader(m.Data))); err == nil {
		if d, err := msg.Header.Date(); err == nil {
			date = d
		}
	}
	var flags []string
	for _, f := range m.Flags {
		if strings.EqualFold(f, connector.FlagSeen) || strings.EqualFold(f, connector.FlagFlagged) {
			flags = append(flags, f)
		}
	}
	return date, flags
}
