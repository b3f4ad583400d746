package puller

import (
	"sync"

	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/utils/clock"

	"prepuller.dev/prepuller/pkg/imageset"
)

// admissionTTL is how long an admitted pod may take to appear in the
// leader's cache before its admission counts as unconfirmed: a pod that a
// later admission plugin (ResourceQuota, Pod Security, another webhook)
// rejected, or a review that the API server never sent.
const admissionTTL = time.Minute

// admissions is the webhook's way in. What admission sees is only a
// candidate: a pod that may never exist. It counts once the leader's watch
// sees the pod (confirm); the images it learns are the ones the existing
// pod names, read by the same code as every other user pod. Record never
// blocks: the webhook calls it on the admission path.
type admissions struct {
	clock  clock.PassiveClock
	leader atomic.Bool
	max    int

	// Resolved once: Admitted runs on the admission path.
	notLeader, dropped, confirmedN, unconfirmed prometheus.Counter
	pendingGauge                                prometheus.Gauge
	toWatch                                     prometheus.Observer

	mu sync.Mutex
	// pending maps "namespace/name" (or "namespace/generateName*" for a
	// pod the API server names later) to when such pods were admitted,
	// oldest first; n counts them all.
	pending map[string][]time.Time
	n       int
	// confirmed are live user pods seen by the watch, waiting for the
	// reconciler, with when they were first seen (admission or watch).
	confirmed []confirmedPod
}

type confirmedPod struct {
	pod  *corev1.Pod
	seen time.Time
}

var _ imageset.Recorder = &admissions{}

func newAdmissions(max int, clk clock.PassiveClock, m *pullerMetrics) *admissions {
	return &admissions{
		clock: clk, max: max, pending: map[string][]time.Time{},
		notLeader:    m.admissions.WithLabelValues("not_leader"),
		dropped:      m.admissions.WithLabelValues("dropped"),
		confirmedN:   m.admissions.WithLabelValues("confirmed"),
		unconfirmed:  m.admissions.WithLabelValues("unconfirmed"),
		pendingGauge: m.admissionsPending,
		toWatch:      m.admissionToWatch,
	}
}

// lead starts keeping admissions: only the leader's watch confirms them.
func (a *admissions) lead() { a.leader.Store(true) }

// Admitted keeps an admission until the watch confirms it. A follower, or
// a full table, drops it: that loses nothing, since the leader's watch
// learns every pod that exists whether or not it was admitted here.
func (a *admissions) Admitted(adm imageset.Admission) {
	if !a.leader.Load() {
		a.notLeader.Inc()
		return
	}
	key := admissionKey(adm.Namespace, adm.Name, adm.GenerateName)
	if key == "" {
		return
	}
	t := adm.Time
	if t.IsZero() {
		t = a.clock.Now()
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.n >= a.max {
		a.dropped.Inc()
		return
	}
	// Several pods may share a generateName: one entry each.
	a.pending[key] = append(a.pending[key], t)
	a.n++
	a.pendingGauge.Set(float64(a.n))
}

func admissionKey(namespace, name, generateName string) string {
	switch {
	case name != "":
		return namespace + "/" + name
	case generateName != "":
		return namespace + "/" + generateName + "*"
	}
	return ""
}

// confirm is called by the watch for a user pod that now exists, and
// queues it for the reconciler. The pod counts from its admission when this
// replica admitted it, else from now.
func (a *admissions) confirm(p *corev1.Pod) {
	now := a.clock.Now()
	seen := now
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, key := range []string{admissionKey(p.Namespace, p.Name, ""), admissionKey(p.Namespace, "", p.GenerateName)} {
		times := a.pending[key]
		if key == "" || len(times) == 0 {
			continue
		}
		seen = times[0]
		if len(times) == 1 {
			delete(a.pending, key)
		} else {
			a.pending[key] = times[1:]
		}
		a.n--
		a.confirmedN.Inc()
		a.toWatch.Observe(now.Sub(seen).Seconds())
		break
	}
	a.pendingGauge.Set(float64(a.n))
	if len(a.confirmed) >= a.max {
		// The reconciler is behind; its next list of the cache still
		// sees every live pod.
		return
	}
	a.confirmed = append(a.confirmed, confirmedPod{pod: p, seen: seen})
}

// take returns and forgets the confirmed pods.
func (a *admissions) take() []confirmedPod {
	a.mu.Lock()
	defer a.mu.Unlock()
	out := a.confirmed
	a.confirmed = nil
	return out
}

// expire forgets admissions no pod followed within admissionTTL.
func (a *admissions) expire(now time.Time) {
	a.mu.Lock()
	defer a.mu.Unlock()
	for key, times := range a.pending {
		keep := times[:0]
		for _, t := range times {
			if now.Sub(t) > admissionTTL {
				a.n--
				a.unconfirmed.Inc()
				continue
			}
			keep = append(keep, t)
		}
		if len(keep) == 0 {
			delete(a.pending, key)
		} else {
			a.pending[key] = keep
		}
	}
	a.pendingGauge.Set(float64(a.n))
}
