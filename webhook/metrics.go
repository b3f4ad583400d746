package webhook

import (
	"github.com/prometheus/client_golang/prometheus"
	"sigs.k8s.io/controller-runtime/pkg/metrics"
)

// Outcomes of one admission request, as the decisions metric labels them.
const (
	outcomeSteered    = "steered"
	outcomeNotSteered = "not_steered"
	outcomeSkipped    = "skipped"
	outcomeError      = "error"
)

// reason is a bounded label value; every pair is created up front so that
// the request path does no label lookup and dashboards see zeros.
type reason struct {
	outcome, name string
}

var (
	reasonHolders        = reason{outcomeSteered, "holders"}
	reasonComplement     = reason{outcomeSteered, "complement"}
	reasonAlreadySteered = reason{outcomeSteered, "already_steered"}

	reasonSteerOff    = reason{outcomeNotSteered, "steer_annotation"}
	reasonNoHolder    = reason{outcomeNotSteered, "no_holder"}
	reasonAllHold     = reason{outcomeNotSteered, "all_hold"}
	reasonTooMany     = reason{outcomeNotSteered, "too_many_nodes"}
	reasonNoEligible  = reason{outcomeNotSteered, "no_eligible_nodes"}
	reasonBadImage    = reason{outcomeNotSteered, "invalid_image"}
	reasonNoContainer = reason{outcomeNotSteered, "no_container"}

	reasonNotPodCreate = reason{outcomeSkipped, "not_pod_create"}
	reasonNamespace    = reason{outcomeSkipped, "namespace"}
	reasonSelector     = reason{outcomeSkipped, "selector"}
	reasonSkipAnno     = reason{outcomeSkipped, "skip_annotation"}
	reasonDryRun       = reason{outcomeSkipped, "dry_run"}

	reasonDecode = reason{outcomeError, "decode"}
	reasonNoUID  = reason{outcomeError, "no_uid"}
	reasonPanic  = reason{outcomeError, "panic"}

	allReasons = []reason{
		reasonHolders, reasonComplement, reasonAlreadySteered,
		reasonSteerOff, reasonNoHolder, reasonAllHold, reasonTooMany, reasonNoEligible, reasonBadImage, reasonNoContainer,
		reasonNotPodCreate, reasonNamespace, reasonSelector, reasonSkipAnno, reasonDryRun,
		reasonDecode, reasonNoUID, reasonPanic,
	}
)

var (
	decisionsVec = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "prepuller_webhook_decisions_total",
		Help: "Admission requests by outcome (steered, not_steered, skipped, error) and reason.",
	}, []string{"outcome", "reason"})
	// Counted here, whatever the recorder then does with them: only the
	// leader's recorder keeps sightings (prepuller_puller_sightings_total
	// says which were queued or dropped), so "learned" would overstate.
	imagesSeen = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "prepuller_webhook_images_seen_total",
		Help: "Distinct images seen in admitted user pods and handed to the recorder (which keeps them only on the leader; see prepuller_puller_sightings_total).",
	})
	extraImagesDropped = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "prepuller_webhook_extra_images_dropped_total",
		Help: "Items of prepuller.dev/extra-images past the per-pod limit; they are not learned.",
	})
	invalidRefs = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "prepuller_webhook_invalid_image_references_total",
		Help: "Image references in user pods (or prepuller.dev/extra-images) that do not parse; they are skipped.",
	})

	decisions = map[reason]prometheus.Counter{}
)

func init() {
	for _, r := range allReasons {
		decisions[r] = decisionsVec.WithLabelValues(r.outcome, r.name)
	}
	metrics.Registry.MustRegister(decisionsVec, imagesSeen, extraImagesDropped, invalidRefs)
}

func count(r reason) { decisions[r].Inc() }
