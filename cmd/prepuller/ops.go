package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"golang.org/x/term"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"prepuller.dev/prepuller/cmd/prepuller/ops"
)

// opsFlags are the connection flags of the operator commands, spelled as
// kubectl spells them so the binary works as the kubectl plugin
// kubectl-prepuller.
type opsFlags struct {
	kubeconfig, context, namespace string
}

func (o *opsFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&o.kubeconfig, "kubeconfig", "", "kubeconfig file; default: $KUBECONFIG, then ~/.kube/config")
	fs.StringVar(&o.context, "context", "", "kubeconfig context; default: the current context")
	fs.StringVar(&o.namespace, "namespace", "", "prepuller's namespace (explain: the pod's); default: the context's namespace")
	fs.StringVar(&o.namespace, "n", "", "short for --namespace")
}

// client connects as kubectl would with these flags.
func (o *opsFlags) client() (client.Client, string, error) {
	return ops.Connect(o.kubeconfig, o.context, o.namespace)
}

func newOpsFlagSet(name, usage string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("prepuller "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: prepuller %s\n\nFlags:\n", usage)
		fs.PrintDefaults()
	}
	return fs
}

// parseInterspersed parses flags before and after positional arguments, as
// kubectl does ("explain POD -n hub").
func parseInterspersed(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		if fs.NArg() == 0 {
			return pos, nil
		}
		pos = append(pos, fs.Arg(0))
		args = fs.Args()[1:]
	}
}

func exitCode(err error) int {
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	return 2
}

func statusCmd(args []string, stdout, stderr io.Writer) int {
	var cf opsFlags
	fs := newOpsFlagSet("status", "status [-o wide|json|yaml] [-n NAMESPACE]", stderr)
	cf.register(fs)
	out := fs.String("o", "", "output format: wide, json or yaml; default: a table")
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		return exitCode(err)
	}
	if err := ops.ValidOutput(*out); err != nil || len(pos) > 0 {
		fmt.Fprintf(stderr, "prepuller status: %v\n", errors.Join(err, extraArgs(pos)))
		return 2
	}
	c, ns, err := cf.client()
	if err != nil {
		fmt.Fprintf(stderr, "prepuller status: %v\n", err)
		return 1
	}
	now := time.Now()
	s, err := ops.Load(context.Background(), c, ns, now)
	if err != nil {
		fmt.Fprintf(stderr, "prepuller status: %v\n", err)
		return 1
	}
	if err := ops.PrintStatus(stdout, ops.BuildStatus(s), *out, now); err != nil {
		fmt.Fprintf(stderr, "prepuller status: %v\n", err)
		return 1
	}
	return 0
}

func extraArgs(pos []string) error {
	if len(pos) == 0 {
		return nil
	}
	return fmt.Errorf("unexpected arguments %q", pos)
}

func explainCmd(args []string, stdout, stderr io.Writer) int {
	var cf opsFlags
	fs := newOpsFlagSet("explain", "explain POD [-n POD_NAMESPACE] [--prepuller-namespace NAMESPACE]", stderr)
	cf.register(fs)
	own := fs.String("prepuller-namespace", "prepuller", "namespace prepuller runs in")
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		return exitCode(err)
	}
	if len(pos) != 1 {
		fmt.Fprintln(stderr, "prepuller explain: want exactly one pod name")
		fs.Usage()
		return 2
	}
	c, ns, err := cf.client()
	if err != nil {
		fmt.Fprintf(stderr, "prepuller explain: %v\n", err)
		return 1
	}
	ctx := context.Background()
	s, err := ops.Load(ctx, c, *own, time.Now())
	if err != nil {
		fmt.Fprintf(stderr, "prepuller explain: %v\n", err)
		return 1
	}
	ex, err := ops.Explain(ctx, c, s, ns, pos[0])
	if err != nil {
		fmt.Fprintf(stderr, "prepuller explain: %v\n", err)
		return 1
	}
	if err := ops.PrintExplanation(stdout, ex); err != nil {
		return 1
	}
	return 0
}

func awaitCmd(args []string, stdout, stderr io.Writer) int {
	var cf opsFlags
	fs := newOpsFlagSet("await", "await [IMAGE...] [--timeout 10m] [-n NAMESPACE]", stderr)
	cf.register(fs)
	timeout := fs.Duration("timeout", 10*time.Minute, "give up (exit 1) after this long; 0 waits forever")
	interval := fs.Duration("interval", 5*time.Second, "time between checks")
	images, err := parseInterspersed(fs, args)
	if err != nil {
		return exitCode(err)
	}
	if *interval <= 0 || *timeout < 0 {
		fmt.Fprintln(stderr, "prepuller await: --interval must be positive and --timeout not negative")
		return 2
	}
	c, ns, err := cf.client()
	if err != nil {
		fmt.Fprintf(stderr, "prepuller await: %v\n", err)
		return 1
	}
	ctx := context.Background()
	if *timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, *timeout)
		defer cancel()
	}
	f, isFile := stdout.(*os.File)
	p := ops.NewProgressPrinter(stdout, isFile && term.IsTerminal(int(f.Fd())))
	load := func(ctx context.Context) (*ops.Snapshot, error) { return ops.Load(ctx, c, ns, time.Now()) }
	_, err = ops.Await(ctx, load, images, *interval, p.Report)
	p.Finish()
	if err != nil {
		fmt.Fprintf(stderr, "prepuller await: %v\n", err)
		return 1
	}
	return 0
}
