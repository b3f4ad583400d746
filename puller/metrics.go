package puller

import (
	"github.com/prometheus/client_golang/prometheus"
	"sigs.k8s.io/controller-runtime/pkg/metrics"

	"prepuller.dev/prepuller/pkg/imageset"
)

var (
	imagesByState = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "prepuller_puller_images",
		Help: "Learned images by state (active, expired, quarantined, denied, pending, excluded).",
	}, []string{"state"})
	nodeShare = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "prepuller_puller_image_node_share",
		Help: "Share (0-1) of eligible nodes holding each image in the puller DaemonSet.",
	}, []string{"image"})
	daemonSetWrites = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "prepuller_puller_daemonset_writes_total",
		Help: "Writes of the puller DaemonSet by operation (create, update, recreate).",
	}, []string{"op"})
	writesHeld = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "prepuller_puller_daemonset_writes_held_total",
		Help: "Syncs that needed a DaemonSet write but held it, by reason: window (puller.writeInterval since the last write) or rollout (the previous rollout is still replacing puller pods, up to puller.rolloutWait).",
	}, []string{"reason"})
	stateWrites = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "prepuller_puller_state_writes_total",
		Help: "Writes of the image set state ConfigMap.",
	})
	stateErrors = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "prepuller_puller_state_errors_total",
		Help: "Syncs that could not save the image set state ConfigMap (the DaemonSet is written anyway).",
	})
	installFailing = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "prepuller_puller_install_failing",
		Help: "1 while the puller pods' install-noop container fails on puller.failureMinNodes nodes (wrong puller.image or puller.noopPath): no image is pulled.",
	})
	syncs = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "prepuller_puller_syncs_total",
		Help: "Puller syncs run (each compares the desired DaemonSet with the live one).",
	})
	syncErrors = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "prepuller_puller_sync_errors_total",
		Help: "Puller syncs that failed (retried at the next window).",
	})
	sightings = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "prepuller_puller_sightings_total",
		Help: "Sightings from the webhook by result: queued; dropped (queue full, the pod watch learns the image anyway); not_leader (this replica does not write); invalid.",
	}, []string{"result"})
	firstSightToDaemonSet = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "prepuller_puller_first_sight_to_daemonset_seconds",
		Help:    "Time from an image's first sighting to the DaemonSet update that added it.",
		Buckets: prometheus.ExponentialBuckets(0.5, 2, 14), // 0.5s .. ~68min
	})
)

// Resolved once: Record runs on the webhook's request path.
var (
	sightingsQueued    = sightings.WithLabelValues("queued")
	sightingsDropped   = sightings.WithLabelValues("dropped")
	sightingsNotLeader = sightings.WithLabelValues("not_leader")
)

func init() {
	metrics.Registry.MustRegister(imagesByState, syncs, nodeShare, daemonSetWrites, writesHeld, stateWrites, stateErrors, installFailing, syncErrors, sightings, firstSightToDaemonSet)
	for _, st := range imageset.States {
		imagesByState.WithLabelValues(string(st))
	}
}
