// Command tern-connector-cyrus is Tern's connector for Cyrus IMAP. Core
// starts it; run by hand with "describe" it prints its description.
package main

import (
	"github.com/ternmail/tern/plugins/cyrus/cyrusconn"
	"github.com/ternmail/tern/sdk/serve"
)

func main() {
	serve.Run(cyrusconn.New(serve.Logger()))
}
