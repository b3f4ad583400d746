package main

import (
	"context"
	_ "embed"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/go-logr/logr"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	toolscache "k8s.io/client-go/tools/cache"

	"prepuller.dev/prepuller/certs"
	"prepuller.dev/prepuller/cmd/prepuller/app"
	"prepuller.dev/prepuller/cmd/prepuller/config"
	"prepuller.dev/prepuller/pkg/userpod"
	"prepuller.dev/prepuller/puller/placement"
	"prepuller.dev/prepuller/test/cluster"
	"prepuller.dev/prepuller/test/sim/kubelet"
	"prepuller.dev/prepuller/test/sim/report"
	"prepuller.dev/prepuller/test/sim/vclock"
	"prepuller.dev/prepuller/test/sim/workload"
)

//go:embed stages.yaml
var kwokStages []byte

// armOptions is one arm's run.
type armOptions struct {
	Arm       string
	Scheduler string
	Workload  workload.Config
	Scale     float64
	// Node shape: pull bandwidth (bytes per simulated second) and disk.
	Bandwidth float64
	Disk      int64
	Dir       string
	Log       logr.Logger
}

// runArm starts a fresh control plane, sets up the arm's pre-puller,
// replays the workload and returns what it measured.
func runArm(ctx context.Context, o armOptions) (report.Run, error) {
	w, err := workload.Generate(o.Workload)
	if err != nil {
		return report.Run{}, err
	}
	res := report.Run{Arm: o.Arm, Scheduler: o.Scheduler, Workload: o.Workload, Scale: o.Scale}
	wallStart := time.Now()

	stages := filepath.Join(o.Dir, "kwok-stages.yaml")
	if err := os.WriteFile(stages, kwokStages, 0o600); err != nil {
		return res, err
	}
	schedConf := filepath.Join(o.Dir, "scheduler.yaml")
	// cluster.Start writes the admin kubeconfig to <Dir>/kubeconfig.
	kubeconfig := filepath.Join(o.Dir, "cluster", "kubeconfig")
	if err := os.WriteFile(schedConf, []byte(schedulerConfig(kubeconfig, o.Scheduler == report.SchedulerUser)), 0o600); err != nil {
		return res, err
	}
	copts := cluster.Options{
		Scheduler: true, Kwok: true,
		SchedulerConfig: schedConf,
		KwokStages:      stages,
		Dir:             filepath.Join(o.Dir, "cluster"),
	}
	if o.Arm == report.ArmPrepuller || o.Arm == report.ArmPlaced {
		copts.Webhooks = cluster.PrepullerWebhooks(prepullerNamespace, userpod.DefaultOptions())
	}
	// kube-controller-manager's API rate limits are wall-clock: scale them
	// by the simulation's speed (20 QPS at 60x would be a third of a request
	// per simulated second).
	qps := 20 * o.Scale
	copts.ControllerManager = true
	copts.ControllerManagerArgs = []string{fmt.Sprintf("--kube-api-qps=%.0f", qps), fmt.Sprintf("--kube-api-burst=%.0f", 1.5*qps)}
	// The DaemonSet controller's stale-cache check (beta, on by default
	// since 1.36) fails a sync whenever its pod informer has not yet seen
	// the controller's own last write, and requeues the DaemonSet with a
	// wall-clock exponential backoff that no flag scales. At 1,000 nodes the
	// informer lags for seconds while puller pods roll, the backoff grows to
	// tens of wall seconds (many simulated minutes) and rollouts stall.
	// Expectations still keep the controller from acting on a stale cache.
	copts.ControllerManagerArgs = append(copts.ControllerManagerArgs, "--feature-gates=StaleControllerConsistencyDaemonSet=false")
	if err := os.MkdirAll(copts.Dir, 0o700); err != nil {
		return res, err
	}
	o.Log.Info("starting control plane", "arm", o.Arm, "scheduler", o.Scheduler)
	c, err := cluster.Start(ctx, copts)
	if err != nil {
		return res, err
	}
	defer func() {
		if err := c.Stop(); err != nil {
			o.Log.Error(err, "stopping the control plane")
		}
	}()
	cfg := rest.CopyConfig(c.Config)
	cfg.QPS, cfg.Burst = 1000, 2000
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return res, err
	}
	for _, ns := range []string{hubNamespace, prepullerNamespace} {
		if _, err := cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
			return res, fmt.Errorf("creating namespace %s: %w", ns, err)
		}
	}

	runCtx, stopRun := context.WithCancel(ctx)
	defer stopRun()
	clock := vclock.New(o.Scale)
	rec := newRecorder(w)
	kl := kubelet.New(cs, kubelet.Options{
		Clock:     clock,
		Bandwidth: o.Bandwidth,
		// Calibrated against make e2e's real kubelets.
		PullOverhead:   kubelet.RealPullOverhead,
		ContainerStart: kubelet.RealContainerStart,
		StatusPeriod:   kubelet.RealStatusPeriod,
		DiskBytes:      o.Disk,
		Size:           sizeFunc(w),
		Pinned:         []string{pauseImage},
		OnStarted:      rec.started,
		Log:            o.Log.WithName("kubelet"),
	})
	var bg sync.WaitGroup
	defer bg.Wait()
	defer stopRun()
	bg.Go(func() {
		if err := kl.Run(runCtx); err != nil && runCtx.Err() == nil {
			o.Log.Error(err, "simulated kubelet stopped")
		}
	})
	counter, err := watchPullers(runCtx, cs)
	if err != nil {
		return res, err
	}

	for _, name := range w.InitialNodes {
		if err := createNode(ctx, cs, kl, name); err != nil {
			return res, err
		}
	}
	if err := waitNodesReady(ctx, cs, len(w.InitialNodes)); err != nil {
		return res, err
	}

	switch o.Arm {
	case report.ArmChart:
		if _, err := cs.AppsV1().DaemonSets(hubNamespace).Create(ctx, chartPuller(w), metav1.CreateOptions{}); err != nil {
			return res, fmt.Errorf("creating the chart's puller: %w", err)
		}
	case report.ArmPrepuller, report.ArmPlaced:
		done, err := startPrepuller(runCtx, c, o)
		if err != nil {
			return res, err
		}
		defer func() {
			stopRun()
			if err := <-done; err != nil {
				o.Log.Error(err, "prepuller stopped")
			}
		}()
	}

	o.Log.Info("replaying workload", "arm", o.Arm, "scheduler", o.Scheduler, "sessions", len(w.Sessions),
		"simulated", (w.Config.Warmup + w.Config.Duration).String(), "wall", clock.Real(w.Config.Warmup+w.Config.Duration).String())
	if err := replay(ctx, cs, kl, clock, w, rec); err != nil {
		return res, err
	}
	// Pods still pulling when the workload ends are given time to finish:
	// dropping them would hide the longest waits.
	rec.drain(ctx, clock.Real(30*time.Minute))

	res.Starts = rec.starts()
	res.Unscheduled, res.StillPulling, res.LeftEarly, res.Steered, err = rec.unstarted(ctx, cs)
	if err != nil {
		return res, err
	}
	for _, n := range kl.Stats() {
		res.Nodes = append(res.Nodes, report.Node{Name: n.Node, PulledBytes: n.PulledBytes, Pulls: n.Pulls, Collected: n.Collected})
	}
	sort.Slice(res.Nodes, func(i, j int) bool { return res.Nodes[i].Name < res.Nodes[j].Name })
	res.DaemonSetWrites, res.PullerPods, res.PullerPodWrites = counter.counts()
	nodes, err := cs.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	if err != nil {
		return res, err
	}
	for _, n := range nodes.Items {
		if len(n.Status.Images) > 1 {
			res.NodesReportingImages++
		}
	}
	res.WallSeconds = time.Since(wallStart).Seconds()
	return res, nil
}

// startPrepuller runs the whole of `prepuller serve` in this process with
// its time settings scaled like the simulation, and waits for /readyz.
func startPrepuller(ctx context.Context, c *cluster.Cluster, o armOptions) (<-chan error, error) {
	hooks := c.Env.WebhookInstallOptions
	probe, err := freeAddr()
	if err != nil {
		return nil, err
	}
	cfg := config.Default()
	cfg.Namespace = prepullerNamespace
	cfg.MetricsBindAddress = "0"
	cfg.HealthProbeBindAddress = probe
	cfg.LeaderElection.Enabled = false
	cfg.Webhook.Port = hooks.LocalServingPort
	cfg.Webhook.CertDir = hooks.LocalServingCertDir
	cfg.Certs.Mode = certs.ModeFiles
	cfg.Puller.Image = prepullerImage
	if o.Arm == report.ArmPlaced {
		// Demand placement with nothing else configured, like the
		// prepuller arm: the hub's configured images are learned from
		// their users and placed by demand like every other image.
		cfg.Puller.Placement.Mode = placement.ModeDemand
	}
	// Every interval the puller has is simulated time: 10 s between
	// DaemonSet writes is 10 simulated seconds.
	scale := func(d *time.Duration) { *d = time.Duration(float64(*d) / o.Scale) }
	scale(&cfg.Puller.WriteInterval.Duration)
	scale(&cfg.Puller.RolloutWait.Duration)
	scale(&cfg.Puller.ResyncInterval.Duration)
	scale(&cfg.Puller.FailureGracePeriod.Duration)
	scale(&cfg.Puller.QuarantineBackoff.Duration)
	scale(&cfg.Puller.QuarantineMaxBackoff.Duration)
	scale(&cfg.Puller.TTL.Duration)
	scale(&cfg.Webhook.BurstWindow.Duration)
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("prepuller configuration: %w", err)
	}
	rc := rest.CopyConfig(c.Config)
	// controller-runtime's default client limits (20 QPS, burst 30) are
	// wall-clock; scale them like the controller manager's.
	rc.QPS, rc.Burst = float32(20*o.Scale), int(30*o.Scale)
	done := make(chan error, 1)
	go func() { done <- app.Run(ctx, rc, cfg) }()
	err = wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, 60*time.Second, true, func(ctx context.Context) (bool, error) {
		select {
		case err := <-done:
			return false, fmt.Errorf("prepuller stopped before it was ready: %v", err)
		default:
		}
		resp, err := http.Get("http://" + probe + "/readyz")
		if err != nil {
			return false, nil
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK, nil
	})
	if err != nil {
		return nil, fmt.Errorf("waiting for prepuller: %w", err)
	}
	return done, nil
}

// replay creates each session's pod at its arrival, deletes it when the
// session ends, and creates joining nodes, all in simulated time.
func replay(ctx context.Context, cs kubernetes.Interface, kl *kubelet.Kubelet, clock *vclock.Clock, w workload.Workload, rec *recorder) error {
	type event struct {
		at      time.Duration
		kind    int // 0 node join, 1 arrival, 2 leave
		session int
		node    string
	}
	end := w.Config.Warmup + w.Config.Duration
	var events []event
	for _, j := range w.Joins {
		events = append(events, event{at: j.At, kind: 0, node: j.Node})
	}
	for i, s := range w.Sessions {
		events = append(events, event{at: s.Arrive, kind: 1, session: i})
		if s.Leave < end {
			events = append(events, event{at: s.Leave, kind: 2, session: i})
		}
	}
	sort.SliceStable(events, func(i, j int) bool {
		if events[i].at != events[j].at {
			return events[i].at < events[j].at
		}
		return events[i].kind < events[j].kind
	})
	base := clock.Now()
	for _, e := range events {
		if !clock.SleepUntil(ctx, base+e.at) {
			return ctx.Err()
		}
		switch e.kind {
		case 0:
			if err := createNode(ctx, cs, kl, e.node); err != nil {
				return err
			}
		case 1:
			s := w.Sessions[e.session]
			pod := userPod(s, w.Images[s.Image].Ref)
			created, err := cs.CoreV1().Pods(hubNamespace).Create(ctx, pod, metav1.CreateOptions{})
			if err != nil {
				return fmt.Errorf("starting %s's server: %w", s.User, err)
			}
			rec.created(e.session, created)
		case 2:
			s := w.Sessions[e.session]
			rec.left(e.session)
			err := cs.CoreV1().Pods(hubNamespace).Delete(ctx, "jupyter-"+s.User, metav1.DeleteOptions{GracePeriodSeconds: new(int64)})
			if err != nil && !apierrors.IsNotFound(err) {
				return fmt.Errorf("stopping %s's server: %w", s.User, err)
			}
		}
	}
	return nil
}

func createNode(ctx context.Context, cs kubernetes.Interface, kl *kubelet.Kubelet, name string) error {
	n := cluster.NewNode(name, cluster.NodeOptions{
		Labels: map[string]string{nodePurposeLabel: "user"},
		CPU:    "8", Memory: "32Gi",
	})
	kl.AddNode(name)
	if _, err := cs.CoreV1().Nodes().Create(ctx, n, metav1.CreateOptions{}); err != nil {
		return fmt.Errorf("creating node %s: %w", name, err)
	}
	return nil
}

func waitNodesReady(ctx context.Context, cs kubernetes.Interface, want int) error {
	return wait.PollUntilContextTimeout(ctx, 250*time.Millisecond, 2*time.Minute, true, func(ctx context.Context) (bool, error) {
		nodes, err := cs.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
		if err != nil {
			return false, nil
		}
		ready := 0
		for _, n := range nodes.Items {
			for _, c := range n.Status.Conditions {
				if c.Type == corev1.NodeReady && c.Status == corev1.ConditionTrue {
					ready++
				}
			}
		}
		return ready >= want, nil
	})
}

// pullerCounter counts writes to puller DaemonSets (creation and every spec
// change, seen as a new generation), the pods their controller made, and
// writes to existing puller pods by any client: an image changed in place,
// or a deletion of a pod whose DaemonSet is OnDelete (under RollingUpdate
// the deletions are the rollout's, and show as pods created). Under OnDelete
// the DaemonSet controller deletes only failed pods and pods of nodes that
// no longer fit, which the simulator has none of, so these are prepuller's.
// The watch can merge writes that come close together (after a relist),
// so this is a lower bound.
type pullerCounter struct {
	mu        sync.Mutex
	writes    int
	pods      int
	podWrites int
}

func watchPullers(ctx context.Context, cs kubernetes.Interface) (*pullerCounter, error) {
	pc := &pullerCounter{}
	f := informers.NewSharedInformerFactory(cs, 0)
	ds := f.Apps().V1().DaemonSets().Informer()
	if _, err := ds.AddEventHandler(toolscache.ResourceEventHandlerFuncs{
		AddFunc: func(any) { pc.add(1, 0, 0) },
		UpdateFunc: func(old, cur any) {
			o, ok1 := old.(*appsv1.DaemonSet)
			c, ok2 := cur.(*appsv1.DaemonSet)
			if ok1 && ok2 && o.Generation != c.Generation {
				pc.add(1, 0, 0)
			}
		},
	}); err != nil {
		return nil, err
	}
	owner := func(p *corev1.Pod) *metav1.OwnerReference {
		for i, ref := range p.OwnerReferences {
			if ref.Kind == "DaemonSet" {
				return &p.OwnerReferences[i]
			}
		}
		return nil
	}
	onDelete := func(p *corev1.Pod, ref *metav1.OwnerReference) bool {
		obj, exists, err := ds.GetStore().GetByKey(p.Namespace + "/" + ref.Name)
		d, ok := obj.(*appsv1.DaemonSet)
		return err == nil && exists && ok && d.Spec.UpdateStrategy.Type == appsv1.OnDeleteDaemonSetStrategyType
	}
	pods := f.Core().V1().Pods().Informer()
	if _, err := pods.AddEventHandler(toolscache.ResourceEventHandlerFuncs{
		AddFunc: func(obj any) {
			if p, ok := obj.(*corev1.Pod); ok && owner(p) != nil {
				pc.add(0, 1, 0)
			}
		},
		UpdateFunc: func(old, cur any) {
			o, ok1 := old.(*corev1.Pod)
			c, ok2 := cur.(*corev1.Pod)
			if !ok1 || !ok2 {
				return
			}
			ref := owner(c)
			if ref == nil {
				return
			}
			sameImage := func(a, b corev1.Container) bool { return a.Image == b.Image }
			if !slices.EqualFunc(o.Spec.Containers, c.Spec.Containers, sameImage) || !slices.EqualFunc(o.Spec.InitContainers, c.Spec.InitContainers, sameImage) {
				pc.add(0, 0, 1)
			}
			if o.DeletionTimestamp == nil && c.DeletionTimestamp != nil && onDelete(c, ref) {
				pc.add(0, 0, 1)
			}
		},
		// A deletion with no grace period shows only as the delete.
		DeleteFunc: func(obj any) {
			if t, ok := obj.(toolscache.DeletedFinalStateUnknown); ok {
				obj = t.Obj
			}
			if p, ok := obj.(*corev1.Pod); ok && p.DeletionTimestamp == nil {
				if ref := owner(p); ref != nil && onDelete(p, ref) {
					pc.add(0, 0, 1)
				}
			}
		},
	}); err != nil {
		return nil, err
	}
	f.Start(ctx.Done())
	if !toolscache.WaitForCacheSync(ctx.Done(), ds.HasSynced, pods.HasSynced) {
		return nil, errors.New("waiting for the DaemonSet cache")
	}
	return pc, nil
}

func (pc *pullerCounter) add(writes, pods, podWrites int) {
	pc.mu.Lock()
	pc.writes += writes
	pc.pods += pods
	pc.podWrites += podWrites
	pc.mu.Unlock()
}

func (pc *pullerCounter) counts() (dsWrites, pods, podWrites int) {
	pc.mu.Lock()
	defer pc.mu.Unlock()
	return pc.writes, pc.pods, pc.podWrites
}

func freeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}

func ptr[T any](v T) *T { return &v }
