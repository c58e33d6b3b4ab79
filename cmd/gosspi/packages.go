package main

import (
	"flag"
	"fmt"
	"os"
	"strings"
	"text/tabwriter"

	"github.com/gosspi/gosspi/sspi"
)

func init() {
	register(&command{
		name:    "packages",
		summary: "list the security packages and what they can do",
		usage:   "usage: gosspi packages [-v]\n\nLists the registered security packages (EnumerateSecurityPackages): name,\nRPC id, maximum token size, GSS mechanism OIDs and capabilities.\n\n  -v   print every capability flag",
		run:     runPackages,
	})
}

func runPackages(args []string) int {
	fs := flag.NewFlagSet("packages", flag.ContinueOnError)
	verbose := fs.Bool("v", false, "print every capability flag")
	fs.Usage = func() { fmt.Fprintln(fs.Output(), commands["packages"].usage) }
	if err := fs.Parse(args); err != nil {
		return flagExit(err)
	}
	host, err := newHost(nil)
	if err != nil {
		fmt.Fprintln(os.Stderr, "gosspi:", err)
		return exitFailure
	}
	defer host.Close()
	pkgs, st := host.SSPI().EnumerateSecurityPackages()
	if st.Failed() {
		fmt.Fprintln(os.Stderr, "gosspi:", st)
		return exitFailure
	}
	tw := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tRPCID\tMAXTOKEN\tOIDS\tCOMMENT")
	for _, p := range pkgs {
		fmt.Fprintf(tw, "%s\t%d\t%d\t%s\t%s\n", p.Name, p.RPCID, p.MaxToken, strings.Join(p.OIDs, ","), p.Comment)
	}
	tw.Flush()
	for _, p := range pkgs {
		caps := sspi.CapabilityString(p.Capabilities)
		if !*verbose && len(caps) > 60 {
			caps = caps[:57] + "..."
		}
		fmt.Printf("%s: %s\n", p.Name, caps)
	}
	return exitOK
}
