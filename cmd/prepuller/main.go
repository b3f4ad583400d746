// Command prepuller learns which images JupyterHub users run, keeps them
// pulled on every node, and steers user pods toward nodes that hold them.
//
//	prepuller serve [flags]    run the webhook and the puller controller
//	prepuller version          print the version
package main

import (
	"fmt"
	"os"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

func main() {
	os.Exit(run(os.Args[1:]))
}

func run(args []string) int {
	if len(args) == 0 {
		usage()
		return 2
	}
	switch args[0] {
	case "serve":
		return serve(args[1:])
	case "version", "--version":
		fmt.Println(version)
		return 0
	case "help", "-h", "--help":
		usage()
		return 0
	default:
		fmt.Fprintf(os.Stderr, "prepuller: unknown command %q\n\n", args[0])
		usage()
		return 2
	}
}

func usage() {
	fmt.Fprint(os.Stderr, `Usage: prepuller <command> [flags]

Commands:
  serve     run the admission webhook and the puller controller
  version   print the version

Run 'prepuller <command> -h' for a command's flags.
`)
}
