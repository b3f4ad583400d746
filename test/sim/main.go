// Command sim is `make sim`: a simulated JupyterHub cluster on a real
// control plane (etcd, kube-apiserver, kube-scheduler,
// kube-controller-manager; kwok keeps the nodes Ready) with a simulated
// kubelet that pulls images at a per-node bandwidth, one at a time. It
// replays one seeded workload against four arms -- no pre-puller, the
// JupyterHub chart's continuous puller, prepuller pulling every learned
// image everywhere, and prepuller placing images by demand -- under the default
// scheduler and the chart's user-scheduler weights, and reports cold starts,
// pull waits, bytes pulled and puller writes (docs/benchmarks.md).
//
// Each arm runs in its own child process with a fresh control plane, so no
// state (metrics registries, caches, goroutines) leaks from one to the next.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"net/http"
	_ "net/http/pprof"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"go.uber.org/zap/zapcore"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	"prepuller.dev/prepuller/test/sim/report"
	"prepuller.dev/prepuller/test/sim/workload"
)

type flags struct {
	arms, schedulers string
	workload         string
	wl               workload.Config
	scale            float64
	bandwidthMBps    float64
	diskGB           float64
	doc, chart       string
	keepDir          bool
	results, from    string

	// Set by the parent for a child.
	arm, scheduler, result string
}

func parseFlags() (*flags, error) {
	// The named workload sets the defaults of the flags below, which may
	// then change any of its knobs: read it first.
	name := workloadArg(os.Args[1:])
	wl, ok := workload.Presets()[name]
	if !ok {
		return nil, fmt.Errorf("-workload %q: not one of z2jh, binder, workshop", name)
	}
	f := &flags{wl: wl}
	flag.StringVar(&f.workload, "workload", name, "named workload: z2jh (a JupyterHub hub), binder (2,000 images, long tail, short sessions), workshop (z2jh plus a course of 60 students starting one new image within 2 minutes); other flags change its knobs")
	flag.StringVar(&f.arms, "arms", "none,chart,prepuller,placed", "arms to run, comma-separated: none, chart, prepuller (placement everywhere), placed (placement demand)")
	flag.StringVar(&f.schedulers, "schedulers", "default,user-scheduler", "scheduler configurations, comma-separated: default, user-scheduler")
	flag.Int64Var(&f.wl.Seed, "seed", f.wl.Seed, "workload seed")
	flag.IntVar(&f.wl.Nodes, "nodes", f.wl.Nodes, "nodes at the end of the run")
	flag.IntVar(&f.wl.JoiningNodes, "joining", f.wl.JoiningNodes, "of -nodes, how many join during the measured window")
	flag.IntVar(&f.wl.Images, "images", f.wl.Images, "distinct images (K)")
	flag.IntVar(&f.wl.Configured, "configured", f.wl.Configured, "most popular images listed in the hub's configuration")
	flag.Float64Var(&f.wl.ZipfS, "zipf", f.wl.ZipfS, "Zipf exponent of image popularity")
	flag.Float64Var(&f.wl.ArrivalsPerMinute, "rate", f.wl.ArrivalsPerMinute, "server starts per simulated minute")
	flag.DurationVar(&f.wl.MeanSession, "session", f.wl.MeanSession, "mean session length (simulated)")
	flag.DurationVar(&f.wl.Warmup, "warmup", f.wl.Warmup, "warm-up, not measured (simulated)")
	flag.DurationVar(&f.wl.Duration, "duration", f.wl.Duration, "measured window (simulated)")
	flag.Float64Var(&f.scale, "scale", 20, "simulated seconds per wall second")
	flag.Float64Var(&f.bandwidthMBps, "bandwidth", 100, "pull bandwidth per node, MB per simulated second")
	flag.Float64Var(&f.diskGB, "disk", 100, "image disk per node, GB")
	flag.StringVar(&f.doc, "doc", "", "Markdown file whose generated section gets the results (e.g. docs/benchmarks.md)")
	flag.StringVar(&f.chart, "chart", "", "PNG chart to write (e.g. docs/benchmarks-sim.png)")
	flag.BoolVar(&f.keepDir, "keep-dir", false, "keep the run directory (logs, results)")
	flag.StringVar(&f.results, "results", "", "directory to save each arm's result (JSON) in")
	flag.StringVar(&f.from, "from", "", "render the report from results saved with -results instead of running")
	flag.StringVar(&f.arm, "arm", "", "internal: run this one arm")
	flag.StringVar(&f.scheduler, "scheduler", report.SchedulerDefault, "internal: the arm's scheduler")
	flag.StringVar(&f.result, "result", "", "internal: where the arm writes its result")
	flag.Parse()
	return f, nil
}

// workloadArg finds -workload's value in args ("z2jh" when absent), the
// way the flag package will parse it.
func workloadArg(args []string) string {
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			break
		}
		for _, p := range []string{"-workload", "--workload"} {
			if v, ok := strings.CutPrefix(a, p+"="); ok {
				return v
			}
			if a == p && i+1 < len(args) {
				return args[i+1]
			}
		}
	}
	return "z2jh"
}

func main() {
	f, err := parseFlags()
	if err != nil {
		fmt.Fprintf(os.Stderr, "sim: %v\n", err)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if f.arm != "" {
		err = child(ctx, f)
	} else {
		err = parent(ctx, f)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "sim: %v\n", err)
		os.Exit(1)
	}
}

// parent runs every arm in a child process, then writes the report.
func parent(ctx context.Context, f *flags) error {
	w, err := workload.Generate(f.wl)
	if err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "prepuller-sim-")
	if err != nil {
		return err
	}
	if !f.keepDir {
		defer os.RemoveAll(dir)
	}
	self, err := os.Executable()
	if err != nil {
		return err
	}
	t0 := time.Now()
	var rows []report.Summary
	var wall float64
	for _, sched := range split(f.schedulers) {
		for _, arm := range split(f.arms) {
			result := filepath.Join(f.from, sched+"-"+arm+".json")
			if f.from == "" {
				armDir := filepath.Join(dir, sched+"-"+arm)
				if err := os.MkdirAll(armDir, 0o700); err != nil {
					return err
				}
				result = filepath.Join(armDir, "result.json")
				args := append(os.Args[1:], "-arm="+arm, "-scheduler="+sched, "-result="+result)
				cmd := exec.CommandContext(ctx, self, args...)
				cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
				cmd.Dir, _ = os.Getwd()
				cmd.Env = append(os.Environ(), "PREPULLER_SIM_DIR="+armDir)
				// On Ctrl-C the child gets SIGTERM and stops its control
				// plane; SIGKILL would leave etcd and kube-apiserver
				// (started by envtest) running.
				cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
				cmd.WaitDelay = time.Minute
				if err := cmd.Run(); err != nil {
					return fmt.Errorf("arm %s with %s scheduler: %w (logs in %s; rerun with -keep-dir)", arm, sched, err, armDir)
				}
			}
			data, err := os.ReadFile(result)
			if err != nil {
				return err
			}
			if f.results != "" {
				if err := os.MkdirAll(f.results, 0o755); err != nil {
					return err
				}
				if err := os.WriteFile(filepath.Join(f.results, sched+"-"+arm+".json"), data, 0o644); err != nil {
					return err
				}
			}
			var run report.Run
			if err := json.Unmarshal(data, &run); err != nil {
				return fmt.Errorf("reading %s: %w", result, err)
			}
			s := report.Summarize(run, w)
			rows = append(rows, s)
			wall += run.WallSeconds
			fmt.Printf("==> %s / %s: %d starts, cold %.1f%%, wait p95 %.1fs, %.1f GB/node, %d DaemonSet writes, %d/%d nodes reporting images (%.0fs wall)\n",
				sched, arm, s.Starts, 100*s.ColdShare, s.P95, s.GBPerNode, s.DaemonSetWrites, run.NodesReportingImages, len(run.Nodes), run.WallSeconds)
		}
	}
	if f.from == "" {
		wall = time.Since(t0).Seconds()
	}
	table := report.Table(rows)
	fmt.Println()
	fmt.Print(table)
	fmt.Printf("\nall arms in %s\n", time.Duration(wall*float64(time.Second)).Round(time.Second))

	if f.chart != "" && f.workload != "z2jh" {
		// One chart per workload, beside the default one.
		f.chart = strings.TrimSuffix(f.chart, ".png") + "-" + f.workload + ".png"
	}
	if f.chart != "" {
		if err := report.Chart(rows, f.chart); err != nil {
			return err
		}
	}
	if f.doc != "" {
		var b strings.Builder
		fmt.Fprintf(&b, "Command: `%s`\n\n", commandLine())
		fmt.Fprintf(&b, "Workload: %s\n\n", report.Describe(f.wl, f.scale, f.bandwidthMBps, f.diskGB, len(w.Sessions)))
		b.WriteString(table)
		if f.chart != "" {
			fmt.Fprintf(&b, "\n![cold starts, p95 pull wait and GB pulled per node, per arm](%s)\n", filepath.Base(f.chart))
		}
		fmt.Fprintf(&b, "\nAll %d runs took %s of wall time on this machine.\n", len(rows), time.Duration(wall*float64(time.Second)).Round(time.Second))
		begin, end := report.Markers(f.workload)
		if err := report.ReplaceNamedSection(f.doc, begin, end, b.String()); err != nil {
			return err
		}
	}
	return nil
}

// child runs one arm and writes its result.
func child(ctx context.Context, f *flags) error {
	dir := os.Getenv("PREPULLER_SIM_DIR")
	if dir == "" {
		var err error
		if dir, err = os.MkdirTemp("", "prepuller-sim-arm-"); err != nil {
			return err
		}
	}
	// prepuller's and the controllers' logs go to a file; the simulator's
	// own progress to the terminal.
	logFile, err := os.Create(filepath.Join(dir, "prepuller.log"))
	if err != nil {
		return err
	}
	defer logFile.Close()
	logf.SetLogger(zap.New(zap.WriteTo(logFile)))
	log := zap.New(zap.WriteTo(os.Stderr), zap.ConsoleEncoder(), zap.Level(zapcore.InfoLevel)).WithName("sim")
	// PREPULLER_SIM_PPROF=127.0.0.1:6061 serves net/http/pprof from the arm
	// (the simulated kubelets and prepuller run in it): an env var, not a
	// flag, because the flags are passed on to every child.
	if addr := os.Getenv("PREPULLER_SIM_PPROF"); addr != "" {
		go func() { log.Error(http.ListenAndServe(addr, nil), "pprof") }()
	}

	run, err := runArm(ctx, armOptions{
		Arm:       f.arm,
		Scheduler: f.scheduler,
		Workload:  f.wl,
		Scale:     f.scale,
		Bandwidth: f.bandwidthMBps * 1e6,
		Disk:      int64(f.diskGB * 1e9),
		Dir:       dir,
		Log:       log,
	})
	if err != nil {
		return err
	}
	data, err := json.MarshalIndent(run, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(f.result, data, 0o600)
}

// commandLine reproduces the run: the flags set explicitly, except those
// that only say where the report goes.
func commandLine() string {
	args := []string{"go run ./test/sim"}
	flag.Visit(func(f *flag.Flag) {
		switch f.Name {
		case "doc", "chart", "keep-dir", "results", "from":
			return
		}
		args = append(args, "-"+f.Name+"="+f.Value.String())
	})
	return strings.Join(args, " ")
}

func split(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}
