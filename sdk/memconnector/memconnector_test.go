package memconnector_test

import (
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/ternmail/tern/sdk/connector"
	"github.com/ternmail/tern/sdk/connectortest"
	"github.com/ternmail/tern/sdk/memconnector"
)

func TestConformance(t *testing.T) {
	for _, settings := range []string{`{}`, `{"delimiter":".","prefix":"INBOX."}`} {
		t.Run(settings, func(t *testing.T) {
			c := memconnector.New(&memconnector.Options{MaxMessageSize: 10 << 20})
			c.AddUser("locked", "right")
			var n atomic.Int64
			connectortest.Run(t, connectortest.Harness{
				Connector: c,
				Mailbox: func(t *testing.T) *connector.OpenRequest {
					return &connector.OpenRequest{Settings: []byte(settings), User: fmt.Sprintf("user%d", n.Add(1))}
				},
				BadCredential: func(t *testing.T) *connector.OpenRequest {
					return &connector.OpenRequest{Settings: []byte(settings), User: "locked", Credential: connector.Credential{Mode: "password", Secret: "not-the-Secret-42"}}
				},
				KeepsBareLF: true,
			})
		})
	}
}
