package puller

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"

	"prepuller.dev/prepuller/pkg/imageset"
	"prepuller.dev/prepuller/pkg/promutil"
)

// pullerMetrics are the reconciler's series. They are registered by Setup
// on the registry it is given, not in init(): a test passes a registry of
// its own and reads only its own numbers.
type pullerMetrics struct {
	imagesByState         *prometheus.GaugeVec
	nodeShare             *prometheus.GaugeVec
	daemonSetWrites       *prometheus.CounterVec
	placedWrites          *prometheus.CounterVec
	placementNodes        prometheus.Gauge
	placementPending      prometheus.Gauge
	writesHeld            *prometheus.CounterVec
	stateWrites           prometheus.Counter
	stateErrors           prometheus.Counter
	installFailing        prometheus.Gauge
	syncs                 prometheus.Counter
	syncErrors            prometheus.Counter
	admissions            *prometheus.CounterVec
	admissionsPending     prometheus.Gauge
	admissionToWatch      prometheus.Histogram
	firstSightToDaemonSet prometheus.Histogram
	refused               *prometheus.CounterVec
	reverts               prometheus.Counter
	rolloutStalled        prometheus.Gauge
}

// refusedPodLimit is the refused counter's reason for images past
// puller.maxImagesPerPod; the others are imageset's holds.
const refusedPodLimit = "pod_limit"

func newPullerMetrics(reg prometheus.Registerer) (*pullerMetrics, error) {
	m := &pullerMetrics{
		imagesByState: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "prepuller_puller_images",
			Help: "Learned images by state (active, expired, quarantined, denied, pending, excluded, held).",
		}, []string{"state"}),
		nodeShare: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "prepuller_puller_image_node_share",
			Help: "Share (0-1) of eligible nodes holding each image in the puller DaemonSet.",
		}, []string{"image"}),
		daemonSetWrites: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "prepuller_puller_daemonset_writes_total",
			Help: "Writes of the puller DaemonSet by operation (create, update, recreate).",
		}, []string{"op"}),
		placedWrites: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "prepuller_puller_placed_writes_total",
			Help: "Writes of placement (puller.placement.mode demand) by operation: daemonset_create, daemonset_update, daemonset_recreate (the placed puller DaemonSet), pod_patch (a placed puller pod's slot images changed in place), pod_delete (a placed puller pod that cannot change in place).",
		}, []string{"op"}),
		placementNodes: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "prepuller_puller_placed_nodes",
			Help: "Eligible nodes with a placed puller pod at the last placement.",
		}),
		placementPending: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "prepuller_puller_placed_pending_writes",
			Help: "Placed puller pods that need a write but wait for the next sync (puller.placement.maxPodWritesPerSync).",
		}),
		writesHeld: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "prepuller_puller_daemonset_writes_held_total",
			Help: "Syncs that needed a DaemonSet write but held it, by reason: window (puller.writeInterval since the last write) or rollout (the previous rollout is still replacing puller pods, up to puller.rolloutWait).",
		}, []string{"reason"}),
		stateWrites: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "prepuller_puller_state_writes_total",
			Help: "Writes of the image set state ConfigMap.",
		}),
		stateErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "prepuller_puller_state_errors_total",
			Help: "Syncs that could not save the image set state ConfigMap (the DaemonSet is written anyway).",
		}),
		installFailing: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "prepuller_puller_install_failing",
			Help: "1 while the puller pods' install-noop container fails on puller.failureMinNodes nodes (wrong puller.image or puller.noopPath): no image is pulled.",
		}),
		syncs: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "prepuller_puller_syncs_total",
			Help: "Puller syncs run (each compares the desired DaemonSet with the live one).",
		}),
		syncErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "prepuller_puller_sync_errors_total",
			Help: "Puller syncs that failed (retried with exponential backoff, 1s to 2m).",
		}),
		admissions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "prepuller_puller_admissions_total",
			Help: "User pods admitted by the webhook, by what became of them: confirmed (the pod exists and is learned); unconfirmed (no such pod appeared within a minute: rejected by a later admission plugin, or a review the API server did not send; nothing learned); dropped (table full); not_leader (this replica does not learn).",
		}, []string{"result"}),
		admissionsPending: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "prepuller_puller_admissions_pending",
			Help: "Admitted user pods not yet seen by the leader's watch.",
		}),
		admissionToWatch: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "prepuller_puller_admission_to_watch_seconds",
			Help:    "Time from a user pod's admission to the leader's watch seeing it exist.",
			Buckets: prometheus.ExponentialBuckets(0.001, 4, 10), // 1ms .. ~4min
		}),
		firstSightToDaemonSet: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "prepuller_puller_first_sight_to_daemonset_seconds",
			Help:    "Time from an image's first sighting to the DaemonSet update that added it.",
			Buckets: prometheus.ExponentialBuckets(0.5, 2, 14), // 0.5s .. ~68min
		}),
		refused: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "prepuller_puller_images_refused_total",
			Help: "Images kept out so that no one pod or user takes over the pulled set, by reason: pod_limit (images of one pod past puller.maxImagesPerPod, not learned; counted once per pod), user_share (held: its only user already has puller.maxImagesPerUser such images), in_use (held: only one user used it, and pulling it would push out an image running pods use). Holds count once each time an image becomes held.",
		}, []string{"reason"}),
		rolloutStalled: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "prepuller_puller_rollout_stalled_seconds",
			Help: "Seconds since the puller DaemonSet's rollout last replaced a pod, while one is in progress; 0 when none is (on the leader). A rollout that does not move: a node whose old puller pod never goes away, or (maxUnavailable below 100%) new pods that never become available.",
		}),
		reverts: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "prepuller_puller_daemonset_reverts_total",
			Help: "DaemonSet writes that restored what prepuller had written after another client changed the spec (a hand edit, or another controller fighting over it).",
		}),
	}
	for _, st := range imageset.States {
		m.imagesByState.WithLabelValues(string(st))
	}
	for _, r := range []string{"confirmed", "unconfirmed", "dropped", "not_leader"} {
		m.admissions.WithLabelValues(r)
	}
	m.refused.WithLabelValues(refusedPodLimit)
	for _, h := range imageset.Holds {
		m.refused.WithLabelValues(string(h))
	}
	r := &promutil.Registrar{Reg: reg}
	m.imagesByState = promutil.Add(r, m.imagesByState)
	m.nodeShare = promutil.Add(r, m.nodeShare)
	m.daemonSetWrites = promutil.Add(r, m.daemonSetWrites)
	m.writesHeld = promutil.Add(r, m.writesHeld)
	m.placedWrites = promutil.Add(r, m.placedWrites)
	m.placementNodes = promutil.Add(r, m.placementNodes)
	m.placementPending = promutil.Add(r, m.placementPending)
	m.stateWrites = promutil.Add(r, m.stateWrites)
	m.stateErrors = promutil.Add(r, m.stateErrors)
	m.installFailing = promutil.Add(r, m.installFailing)
	m.syncs = promutil.Add(r, m.syncs)
	m.syncErrors = promutil.Add(r, m.syncErrors)
	m.admissions = promutil.Add(r, m.admissions)
	m.admissionsPending = promutil.Add(r, m.admissionsPending)
	m.admissionToWatch = promutil.Add(r, m.admissionToWatch)
	m.firstSightToDaemonSet = promutil.Add(r, m.firstSightToDaemonSet)
	m.refused = promutil.Add(r, m.refused)
	m.reverts = promutil.Add(r, m.reverts)
	m.rolloutStalled = promutil.Add(r, m.rolloutStalled)
	if r.Err != nil {
		return nil, fmt.Errorf("registering puller metrics: %w", r.Err)
	}
	return m, nil
}
