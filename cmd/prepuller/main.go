// Command prepuller learns which images JupyterHub users run, keeps them
// pulled on every node, and steers user pods toward nodes that hold them.
//
//	prepuller serve [flags]    run the webhook and the puller controller
//	prepuller status [flags]   show what prepuller learned and where it is
//	prepuller explain POD      why a user pod was or was not steered
//	prepuller await [IMAGE...] wait until images are on every eligible node
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
	case "status":
		return statusCmd(args[1:], os.Stdout, os.Stderr)
	case "explain":
		return explainCmd(args[1:], os.Stdout, os.Stderr)
	case "await":
		return awaitCmd(args[1:], os.Stdout, os.Stderr)
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
  status    show each image's state, users, nodes holding it; the leader
  explain   why a user pod was or was not steered, and where its image is
  await     wait until images are on every eligible node (Helm hook, CI)
  version   print the version

Installed as kubectl-prepuller on $PATH, it is also 'kubectl prepuller'.

Run 'prepuller <command> -h' for a command's flags.
`)
}
