// Command tern is Tern's daemon and command line. See `tern help`.
package main

import (
	"context"
	"os"
	"os/signal"
	"runtime/pprof"
	"syscall"

	"github.com/ternmail/tern/core/internal/cli"
)

func main() {
	// TERN_CPUPROFILE=file writes a CPU profile of this run (for
	// performance work; see scripts/bench).
	if path := os.Getenv("TERN_CPUPROFILE"); path != "" {
		if f, err := os.Create(path); err == nil {
			pprof.StartCPUProfile(f)
		}
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := cli.Main(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	pprof.StopCPUProfile()
	os.Exit(code)
}
