package cli

import (
	"context"
	"io"

	"github.com/linkmesh/linkmesh/internal/demo"
)

// Demo runs `linkmesh demo`.
func Demo(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("demo", `usage: linkmesh demo [--duration 20s] [flags]

Runs a whole mesh in this process, on loopback: a coordinator and two probes
(sites sql and mi) that measure each other, and prints the path table every
--every. It needs no certificates and opens only loopback ports.`, args, stdout, stderr)
	var opts demo.Options
	var lf logFlags
	fs.DurationVar(&opts.Duration, "duration", 0, "end the demo cleanly after this long, e.g. 20s (0: run until Ctrl-C)")
	fs.DurationVar(&opts.Every, "every", 3e9, "how often to print the path table")
	fs.DurationVar(&opts.Interval, "interval", 1e9, "time between attempts on each path")
	lf.register(fs, "warn")
	if err := parse(fs, args); err != nil {
		return err
	}
	if opts.Duration < 0 || opts.Every <= 0 || opts.Interval < 1e8 {
		return usageErrorf("demo: --duration must be ≥ 0, --every > 0 and --interval ≥ 100ms")
	}
	logger, err := lf.logger(stderr)
	if err != nil {
		return err
	}
	opts.Out = stdout
	opts.Logger = logger
	return demo.Run(ctx, opts)
}
