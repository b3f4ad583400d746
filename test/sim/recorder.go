package main

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"prepuller.dev/prepuller/test/sim/kubelet"
	"prepuller.dev/prepuller/test/sim/report"
	"prepuller.dev/prepuller/test/sim/workload"
	"prepuller.dev/prepuller/webhook"
)

// recorder follows each session's pod from creation to Running.
type recorder struct {
	w workload.Workload

	mu        sync.Mutex
	byPod     map[string]int // pod name -> session
	isCreated map[int]bool
	hasLeft   map[int]bool
	terms     map[int]*corev1.NodeSelectorRequirement // the webhook's hostname requirement; nil: not steered
	done      map[int]report.Start
}

func newRecorder(w workload.Workload) *recorder {
	return &recorder{
		w:         w,
		byPod:     map[string]int{},
		isCreated: map[int]bool{},
		hasLeft:   map[int]bool{},
		terms:     map[int]*corev1.NodeSelectorRequirement{},
		done:      map[int]report.Start{},
	}
}

func (r *recorder) created(session int, pod *corev1.Pod) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.byPod[pod.Name] = session
	r.isCreated[session] = true
	r.terms[session] = steeringTerm(pod)
}

// steeringTerm finds the webhook's preferred term by its marker and returns
// its hostname requirement (nil when the pod has no such term).
func steeringTerm(pod *corev1.Pod) *corev1.NodeSelectorRequirement {
	a := pod.Spec.Affinity
	if a == nil || a.NodeAffinity == nil {
		return nil
	}
	for _, t := range a.NodeAffinity.PreferredDuringSchedulingIgnoredDuringExecution {
		marked := false
		var host *corev1.NodeSelectorRequirement
		for i, e := range t.Preference.MatchExpressions {
			if e.Key == webhook.MarkerLabel {
				marked = true
			} else if e.Key == corev1.LabelHostname {
				host = &t.Preference.MatchExpressions[i]
			}
		}
		if marked && host != nil {
			return host.DeepCopy()
		}
	}
	return nil
}

// preferred says whether node is one the requirement prefers.
func preferred(req *corev1.NodeSelectorRequirement, node string) bool {
	in := slices.Contains(req.Values, node)
	if req.Operator == corev1.NodeSelectorOpNotIn {
		return !in
	}
	return in
}

func (r *recorder) left(session int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.hasLeft[session] = true
}

// usersPerNode counts the sessions running on each node: started and not
// left. Called with r.mu held.
func (r *recorder) usersPerNode() map[string]int {
	users := map[string]int{}
	for s, st := range r.done {
		if !r.hasLeft[s] {
			users[st.Node]++
		}
	}
	return users
}

// started is the kubelet's callback; puller pods are ignored.
func (r *recorder) started(s kubelet.Start) {
	if s.Namespace != hubNamespace || !strings.HasPrefix(s.Name, "jupyter-") {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	session, ok := r.byPod[s.Name]
	if _, again := r.done[session]; !ok || again {
		return
	}
	image := r.w.Images[r.w.Sessions[session].Image].Ref
	cold := false
	for _, m := range s.Missing {
		cold = cold || m == image
	}
	st := report.Start{
		Session:     session,
		Node:        s.Node,
		WaitSeconds: (s.Running - s.Seen).Seconds(),
		Cold:        cold,
	}
	users := r.usersPerNode()
	if req := r.terms[session]; req != nil {
		st.SteerOp, st.SteerNodes = string(req.Operator), len(req.Values)
		st.OnPreferred = preferred(req, s.Node)
		if req.Operator == corev1.NodeSelectorOpIn && len(req.Values) > 0 {
			least := users[req.Values[0]]
			for _, n := range req.Values[1:] {
				least = min(least, users[n])
			}
			st.NamedMinUsers = &least
		}
	}
	st.NodeUsers = users[s.Node]
	r.done[session] = st
}

// drain waits up to timeout (wall) for every created session still open to
// reach Running.
func (r *recorder) drain(ctx context.Context, timeout time.Duration) {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) && ctx.Err() == nil {
		r.mu.Lock()
		open := 0
		for s := range r.isCreated {
			if _, ok := r.done[s]; !ok && !r.hasLeft[s] {
				open++
			}
		}
		r.mu.Unlock()
		if open == 0 {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func (r *recorder) starts() []report.Start {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]report.Start, 0, len(r.done))
	for _, s := range r.done {
		out = append(out, s)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Session < out[j].Session })
	return out
}

// unstarted sorts the measured sessions that never ran by why, and counts
// the measured pods the webhook steered.
func (r *recorder) unstarted(ctx context.Context, cs kubernetes.Interface) (unscheduled, pulling, left, steered int, err error) {
	// One List, not a Get per open session: at 1,000 nodes the API server
	// can still be busy with the puller rollout when the run ends, and
	// sequential Gets of a second or more each added minutes to the run.
	list, err := cs.CoreV1().Pods(hubNamespace).List(ctx, metav1.ListOptions{})
	if err != nil {
		return 0, 0, 0, 0, fmt.Errorf("listing user pods: %w", err)
	}
	live := make(map[string]*corev1.Pod, len(list.Items))
	for i := range list.Items {
		live[list.Items[i].Name] = &list.Items[i]
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for s := range r.isCreated {
		if !r.w.Sessions[s].Measured {
			continue
		}
		if r.terms[s] != nil {
			steered++
		}
		if _, ok := r.done[s]; ok {
			continue
		}
		if r.hasLeft[s] {
			left++
			continue
		}
		pod, ok := live["jupyter-"+r.w.Sessions[s].User]
		switch {
		case !ok:
			left++
		case pod.Spec.NodeName == "":
			unscheduled++
		default:
			pulling++
		}
	}
	return unscheduled, pulling, left, steered, nil
}
