// Command tern-connector-postfix is Tern's connector for Dovecot behind
// Postfix. Core starts it; run by hand with "describe" it prints its
// description.
package main

import (
	"github.com/ternmail/tern/plugins/postfix/postfixconn"
	"github.com/ternmail/tern/sdk/serve"
)

func main() {
	serve.Run(postfixconn.New(serve.Logger()))
}
