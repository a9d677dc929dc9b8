// Command tern-connector-imap is Tern's IMAP connector plugin. Core starts
// it; run by hand with "describe" it prints its description.
package main

import (
	"github.com/ternmail/tern/plugins/internal/imapconn"
	"github.com/ternmail/tern/sdk/serve"
)

func main() {
	serve.Run(imapconn.New(imapconn.Generic, serve.Logger()))
}
