// Command tern is Tern's daemon and command line. See `tern help`.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/ternmail/tern/core/internal/cli"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := cli.Main(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
