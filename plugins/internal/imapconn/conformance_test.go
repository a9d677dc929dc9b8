package imapconn_test

import (
	"testing"

	"github.com/ternmail/tern/internal/testserver"
	"github.com/ternmail/tern/plugins/internal/imapconn"
	"github.com/ternmail/tern/sdk/connector"
	"github.com/ternmail/tern/sdk/connectortest"
)

// conformance runs the SDK's suite against a real Dovecot instance, in
// process and over the plugin protocol. Dovecot stores bare-LF messages
// with CRLF, so KeepsBareLF is false.
func conformance(t *testing.T, inst testserver.Instance, mode string) {
	testserver.Ensure(t)
	connectortest.Run(t, connectortest.Harness{
		Connector: imapconn.New(nil, testLogger()),
		Mailbox: func(t *testing.T) *connector.OpenRequest {
			return request(t, inst, mode, nil)
		},
		BadCredential: func(t *testing.T) *connector.OpenRequest {
			req := request(t, inst, mode, nil)
			req.Credential.Secret = "wrong-" + req.Credential.Secret
			return req
		},
	})
}

// TestConformanceSrc: the Maildir++ instance ("." separator) over
// implicit TLS with the test CA.
func TestConformanceSrc(t *testing.T) { conformance(t, testserver.DovecotSrc, "implicit") }

// TestConformanceDst: the fs-layout instance ("/" separator) over
// STARTTLS with the test CA.
func TestConformanceDst(t *testing.T) { conformance(t, testserver.DovecotDst, "starttls") }
