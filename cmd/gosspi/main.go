// Command gosspi is the command line of gosspi: it runs the demo, lists the
// security packages, and (with later subcommands) serves and fetches over
// HTTP with Negotiate and NTLM, decodes tokens, and manages accounts.
//
// Usage:
//
//	gosspi <command> [flags] [args]
//	gosspi help [command]
//
// Progress and errors go to standard error; results to standard output.
// Exit status: 0 success; 1 failure; 2 usage error (bad flags or
// arguments); 3 configuration error found at start (a keytab, account or
// TLS file that is missing or wrong, a scheme with no credential); 4
// authentication failed (gosspi get was refused: 401, 403, 407, or a
// handshake status such as SEC_E_LOGON_DENIED).
package main

import (
	"fmt"
	"io"
	"os"
	"sort"
)

// command is one subcommand. Subcommands live in their own files and
// register themselves from init.
type command struct {
	name    string
	summary string
	usage   string // shown by "gosspi help NAME" and NAME -h
	run     func(args []string) int
}

var commands = map[string]*command{}

func register(c *command) {
	if _, dup := commands[c.name]; dup {
		panic("gosspi: duplicate command " + c.name)
	}
	commands[c.name] = c
}

// Exit codes.
const (
	exitOK      = 0
	exitFailure = 1 // anything else: a network error, a bad token to decode
	exitUsage   = 2 // bad flags or arguments
	exitConfig  = 3 // a configuration error found at start
	exitAuth    = 4 // authentication failed
)

// exitCodesHelp documents the exit codes in the usage texts.
const exitCodesHelp = `Exit status: 0 success, 1 failure, 2 usage error (bad flags or arguments),
3 configuration error at start (a keytab, account or TLS file that is
missing or wrong, a scheme with no credential), 4 authentication failed.`

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		usage(stderr)
		return exitUsage
	}
	name := args[0]
	switch name {
	case "-h", "-help", "--help", "help":
		if len(args) > 1 {
			if c, ok := commands[args[1]]; ok {
				fmt.Fprintln(stdout, c.usage)
				return exitOK
			}
			fmt.Fprintf(stderr, "gosspi: unknown command %q\n", args[1])
			return exitUsage
		}
		usage(stdout)
		return exitOK
	}
	c, ok := commands[name]
	if !ok {
		fmt.Fprintf(stderr, "gosspi: unknown command %q\n\n", name)
		usage(stderr)
		return exitUsage
	}
	return c.run(args[1:])
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "gosspi: Windows-style SSPI (Kerberos, NTLM, Negotiate) in pure Go")
	fmt.Fprintln(w, "\nUsage: gosspi <command> [flags] [args]\n\nCommands:")
	names := make([]string, 0, len(commands))
	for n := range commands {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-12s %s\n", n, commands[n].summary)
	}
	fmt.Fprintln(w, "\nRun 'gosspi help <command>' or 'gosspi <command> -h' for a command's flags.")
	fmt.Fprintln(w, "\n"+exitCodesHelp)
}
