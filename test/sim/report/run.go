// Package report turns the simulator's runs into the numbers of
// docs/benchmarks.md: cold starts, user wait caused by pulls, bytes pulled
// per node and DaemonSet writes, as a Markdown table and a PNG chart.
package report

import (
	"math"
	"sort"

	"prepuller.dev/prepuller/test/sim/workload"
)

// Arms of a comparison.
const (
	ArmNone      = "none"
	ArmChart     = "chart"
	ArmPrepuller = "prepuller"
	// ArmPlaced is prepuller with puller.placement.mode: demand and
	// nothing else configured (no puller.staticImages).
	ArmPlaced = "placed"
)

// Schedulers an arm runs with.
const (
	SchedulerDefault = "default"
	SchedulerUser    = "user-scheduler"
)

// Run is what one arm measured; one arm process writes it as JSON.
type Run struct {
	Arm       string          `json:"arm"`
	Scheduler string          `json:"scheduler"`
	Workload  workload.Config `json:"workload"`
	Scale     float64         `json:"scale"`
	// Starts has one entry per user pod that reached Running.
	Starts []Start `json:"starts"`
	// Sessions that never ran, by why.
	Unscheduled  int    `json:"unscheduled"`
	StillPulling int    `json:"stillPulling"`
	LeftEarly    int    `json:"leftEarly"`
	Nodes        []Node `json:"nodes"`
	// DaemonSetWrites counts creations and spec changes of puller
	// DaemonSets; PullerPods the pods their controller created.
	DaemonSetWrites int `json:"daemonSetWrites"`
	PullerPods      int `json:"pullerPods"`
	// PullerPodWrites counts writes to existing puller pods by any
	// client, as the watch shows them: container image changes (placed
	// slots changed in place) and deletions of pods of an OnDelete
	// DaemonSet. In the simulator only prepuller makes either.
	PullerPodWrites int `json:"pullerPodWrites"`
	// Steered counts user pods the webhook gave a node affinity term.
	Steered int `json:"steered"`
	// NodesReportingImages counts nodes whose status.images listed more
	// than the pause image at the end: a check that the simulated
	// kubelet's reports reached the API (kwok must not overwrite them).
	NodesReportingImages int     `json:"nodesReportingImages"`
	WallSeconds          float64 `json:"wallSeconds"`
}

// Start is one user pod reaching Running.
type Start struct {
	Session int    `json:"session"` // index into Workload.Sessions
	Node    string `json:"node"`
	// WaitSeconds is simulated time from the kubelet seeing the pod to its
	// last image being on the node.
	WaitSeconds float64 `json:"waitSeconds"`
	// Cold: the node lacked the notebook image when the pod landed on it.
	Cold bool `json:"cold"`
	// The webhook's steering term, when the pod had one: its operator (In
	// names holders, NotIn lackers), how many nodes it named, and whether
	// the pod landed on a node it prefers.
	SteerOp     string `json:"steerOp,omitempty"`
	SteerNodes  int    `json:"steerNodes,omitempty"`
	OnPreferred bool   `json:"onPreferred,omitempty"`
	// Load when the pod started, to tell why a steered pod landed where it
	// did: user pods already running on its node, and on the least loaded
	// node its In term named (nil without one). Pods still pulling are not
	// counted, so both are lower bounds.
	NodeUsers     int  `json:"nodeUsers"`
	NamedMinUsers *int `json:"namedMinUsers,omitempty"`
}

// Node is one node's pulls over the whole run.
type Node struct {
	Name        string `json:"name"`
	PulledBytes int64  `json:"pulledBytes"`
	Pulls       int    `json:"pulls"`
	Collected   int    `json:"collected"`
}

// Summary is one row of the table.
type Summary struct {
	Arm, Scheduler string
	// Starts are measured starts (after the warm-up); SeenStarts those of
	// an image some earlier session already used.
	Starts, SeenStarts int
	ColdShare          float64 // of all measured starts
	ColdShareSeen      float64 // of measured starts of images seen before
	P50, P95, P99      float64 // seconds of wait caused by pulls
	MeanWait           float64
	GBPerNode          float64 // mean over nodes, whole run
	MaxGBPerNode       float64
	DaemonSetWrites    int
	PullerPods         int
	PullerPodWrites    int
	Steered            int
	NotRun             int
	// RegistryPulls counts image pulls on all nodes (each reaches the
	// registry).
	RegistryPulls int
	// Students is how many course (burst) starts there were, and
	// PeakStudentsPerNode the most running on one node at once (a student
	// runs from arrival to leaving): how well the course was spread over
	// the nodes at its peak.
	Students, PeakStudentsPerNode int
	// StudentP95 is the course starts' pull wait at p95.
	StudentP95 float64
}

// Summarize computes a row. w must be the workload the run replayed.
func Summarize(r Run, w workload.Workload) Summary {
	s := Summary{Arm: r.Arm, Scheduler: r.Scheduler, DaemonSetWrites: r.DaemonSetWrites, PullerPods: r.PullerPods, PullerPodWrites: r.PullerPodWrites, Steered: r.Steered}
	seenBefore := SeenBefore(w)
	var waits []float64
	cold, coldSeen := 0, 0
	for _, st := range r.Starts {
		if !w.Sessions[st.Session].Measured {
			continue
		}
		s.Starts++
		waits = append(waits, st.WaitSeconds)
		if st.Cold {
			cold++
		}
		if seenBefore[st.Session] {
			s.SeenStarts++
			if st.Cold {
				coldSeen++
			}
		}
	}
	s.ColdShare = ratio(cold, s.Starts)
	s.ColdShareSeen = ratio(coldSeen, s.SeenStarts)
	sort.Float64s(waits)
	s.P50, s.P95, s.P99 = Quantile(waits, 0.50), Quantile(waits, 0.95), Quantile(waits, 0.99)
	for _, x := range waits {
		s.MeanWait += x
	}
	if len(waits) > 0 {
		s.MeanWait /= float64(len(waits))
	}
	perNode := map[string][]workload.Session{}
	var studentWaits []float64
	for _, st := range r.Starts {
		if ses := w.Sessions[st.Session]; ses.Burst {
			s.Students++
			perNode[st.Node] = append(perNode[st.Node], ses)
			studentWaits = append(studentWaits, st.WaitSeconds)
		}
	}
	for _, ss := range perNode {
		s.PeakStudentsPerNode = max(s.PeakStudentsPerNode, peakConcurrent(ss))
	}
	sort.Float64s(studentWaits)
	s.StudentP95 = Quantile(studentWaits, 0.95)
	var total int64
	for _, n := range r.Nodes {
		s.RegistryPulls += n.Pulls
		total += n.PulledBytes
		s.MaxGBPerNode = math.Max(s.MaxGBPerNode, float64(n.PulledBytes)/1e9)
	}
	if len(r.Nodes) > 0 {
		s.GBPerNode = float64(total) / 1e9 / float64(len(r.Nodes))
	}
	s.NotRun = r.Unscheduled + r.StillPulling + r.LeftEarly
	return s
}

// SeenBefore says, per session, whether an earlier session (in arrival
// order, warm-up included) used the same image: the starts a pre-puller
// that learns could have helped.
func SeenBefore(w workload.Workload) []bool {
	used := map[int]bool{}
	out := make([]bool, len(w.Sessions))
	for i, s := range w.Sessions {
		out[i] = used[s.Image]
		used[s.Image] = true
	}
	return out
}

// Quantile of sorted values, nearest rank; 0 for none.
func Quantile(sorted []float64, q float64) float64 {
	if len(sorted) == 0 {
		return 0
	}
	i := int(math.Ceil(q*float64(len(sorted)))) - 1
	return sorted[max(0, min(i, len(sorted)-1))]
}

func ratio(a, b int) float64 {
	if b == 0 {
		return 0
	}
	return float64(a) / float64(b)
}

// peakConcurrent is the most sessions running at once: the count is
// highest at some session's arrival, so only arrivals are tried.
func peakConcurrent(ss []workload.Session) int {
	peak := 0
	for _, at := range ss {
		n := 0
		for _, s := range ss {
			if s.Arrive <= at.Arrive && at.Arrive < s.Leave {
				n++
			}
		}
		peak = max(peak, n)
	}
	return peak
}
