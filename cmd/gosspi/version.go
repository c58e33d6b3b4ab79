package main

import (
	"flag"
	"fmt"
	"os"
	"runtime"
	"runtime/debug"
)

// version is set with -ldflags "-X main.version=..." by release builds.
var version = "devel"

func init() {
	register(&command{
		name:    "version",
		summary: "print the gosspi version",
		usage:   "usage: gosspi version\n\nPrints the gosspi version, the Go version and the module versions it was built with.",
		run:     runVersion,
	})
}

func runVersion(args []string) int {
	fs := flag.NewFlagSet("version", flag.ContinueOnError)
	fs.Usage = func() { fmt.Fprintln(fs.Output(), commands["version"].usage) }
	if err := fs.Parse(args); err != nil {
		return flagExit(err)
	}
	v := version
	if bi, ok := debug.ReadBuildInfo(); ok && v == "devel" && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		v = bi.Main.Version
	}
	fmt.Printf("gosspi %s (%s, %s/%s)\n", v, runtime.Version(), runtime.GOOS, runtime.GOARCH)
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, d := range bi.Deps {
			fmt.Fprintf(os.Stdout, "  %s %s\n", d.Path, d.Version)
		}
	}
	return exitOK
}

// flagExit maps a flag parsing error to an exit code: -h is success.
func flagExit(err error) int {
	if err == flag.ErrHelp {
		return exitOK
	}
	return exitUsage
}
