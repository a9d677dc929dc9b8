// Command tern-connector-gmail is Tern's Google Workspace connector plugin
// (the Gmail API with a service account's domain-wide delegation). Core
// starts it; run by hand with "describe" it prints its description.
package main

import (
	"github.com/ternmail/tern/plugins/gmail/gmailconn"
	"github.com/ternmail/tern/sdk/serve"
)

func main() {
	serve.Run(gmailconn.New(&gmailconn.Options{Logger: serve.Logger()}))
}
