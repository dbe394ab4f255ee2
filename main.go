// Command linkmesh proves the network paths of an Azure SQL Managed Instance link,
// in both directions, before cutover and every minute after.
//
// This file only dispatches subcommands; each lives in internal/cli.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/linkmesh/linkmesh/internal/cli"
)

type command struct {
	name, summary string
	run           func(ctx context.Context, args []string, stdout, stderr io.Writer) error
}

var commands = []command{
	{"probe", "run a probe agent beside SQL Server or in the MI's VNet", cli.Probe},
	{"coordinator", "run a coordinator: plans, ingest, /metrics", cli.Coordinator},
	{"check", "pre-cutover check from the SQL Server host: every MI link requirement, pass/fail and the fix", cli.Check},
	{"status", "what the coordinator's status page shows, in a terminal: both directions, reasons, fixes", cli.Status},
	{"demo", "run a whole mesh on loopback: a coordinator and two probes (sql, mi)", cli.Demo},
	{"certs", "create the private CA, coordinator and probe certificates, and the mesh key", cli.Certs},
	{"service", "Windows: install the probe as a service, start, stop, status, uninstall", cli.Service},
	{"version", "print the version", cli.Version},
}

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	switch {
	case len(args) == 0:
		usage(stderr)
		return cli.ExitUsage
	case args[0] == "-h" || args[0] == "-help" || args[0] == "--help" || args[0] == "help":
		usage(stdout) // asked for: the answer goes to stdout
		return 0
	case args[0] == "--version" || args[0] == "-version":
		args = []string{"version"}
	}
	for _, c := range commands {
		if c.name != args[0] {
			continue
		}
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		defer stop()
		return cli.Exit(c.run(ctx, args[1:], stdout, stderr), stderr)
	}
	fmt.Fprintf(stderr, "linkmesh: unknown command %q\n\n", args[0])
	usage(stderr)
	return cli.ExitUsage
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "usage: linkmesh <command> [flags]\n\ncommands:")
	for _, c := range commands {
		fmt.Fprintf(w, "  %-12s %s\n", c.name, c.summary)
	}
	fmt.Fprintln(w, "\nRun 'linkmesh <command> -h' for the flags of a command. Docs: README.md and docs/.")
}
