package cyrusconn_test

import (
	"testing"

	"github.com/ternmail/tern/internal/testserver"
	"github.com/ternmail/tern/plugins/cyrus/cyrusconn"
	"github.com/ternmail/tern/sdk/connector"
	"github.com/ternmail/tern/sdk/connectortest"
)

// TestConformance runs the SDK's conformance suite against both Cyrus
// instances with the proxy administrator (SASL PLAIN authzid), in process
// and over the plugin protocol, a wrong administrator password included
// (BadCredential).
//
// Cyrus rewrites 8-bit bytes in top-level headers on APPEND (munge8bit:
// each becomes 'X'), so the suite is told what Cyrus stores
// (testserver.CyrusStores, which mirrors Cyrus's own check and is tested
// against the real server) and expects exactly those bytes.
func TestConformance(t *testing.T) {
	testserver.Ensure(t)
	for _, inst := range testserver.Cyruses {
		t.Run(inst.Name, func(t *testing.T) {
			connectortest.Run(t, connectortest.Harness{
				Connector: cyrusconn.New(testLogger()),
				Mailbox: func(t *testing.T) *connector.OpenRequest {
					return adminRequest(inst, newCyrusUser(t, inst, "conf-"+inst.Name))
				},
				BadCredential: func(t *testing.T) *connector.OpenRequest {
					req := adminRequest(inst, newCyrusUser(t, inst, "conf-bad-"+inst.Name))
					req.Credential.Secret = "wrong-" + req.Credential.Secret
					return req
				},
				Stores: testserver.CyrusStores,
			})
		})
	}
}
