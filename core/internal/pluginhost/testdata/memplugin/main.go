// Command memplugin serves the in-memory reference connector as a plugin,
// for the plugin host's tests. Opening a mailbox named "crash" makes the
// process exit, as a crashing plugin would.
package main

import (
	"context"
	"os"

	"github.com/ternmail/tern/sdk/connector"
	"github.com/ternmail/tern/sdk/memconnector"
	"github.com/ternmail/tern/sdk/serve"
)

type crashing struct{ *memconnector.Connector }

func (c crashing) OpenSource(ctx context.Context, req *connector.OpenRequest) (connector.Source, error) {
	if req.User == "crash" {
		os.Exit(3)
	}
	return c.Connector.OpenSource(ctx, req)
}

func (c crashing) Describe(ctx context.Context) (*connector.Description, error) {
	d, err := c.Connector.Describe(ctx)
	if err == nil && os.Getenv("MEMPLUGIN_ID") != "" {
		d.ID = os.Getenv("MEMPLUGIN_ID")
	}
	return d, err
}

func main() {
	serve.Run(crashing{memconnector.New(nil)})
}
