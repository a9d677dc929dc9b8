// Command plugin serves the in-memory connector; the host package's tests
// start it as a real plugin process.
package main

import (
	"github.com/ternmail/tern/sdk/memconnector"
	"github.com/ternmail/tern/sdk/serve"
)

func main() {
	serve.Run(memconnector.New(nil))
}
