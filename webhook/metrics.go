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
	reasonPanic  = reason{outcomeError, "panic"}

	allReasons = []reason{
		reasonHolders, reasonComplement, reasonAlreadySteered,
		reasonSteerOff, reasonNoHolder, reasonAllHold, reasonTooMany, reasonNoEligible, reasonBadImage, reasonNoContainer,
		reasonNotPodCreate, reasonNamespace, reasonSelector, reasonSkipAnno, reasonDryRun,
		reasonDecode, reasonPanic,
	}
)

var (
	decisionsVec = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "prepuller_webhook_decisions_total",
		Help: "Admission requests by outcome (steered, not_steered, skipped, error) and reason.",
	}, []string{"outcome", "reason"})
	imagesLearned = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "prepuller_webhook_images_learned_total",
		Help: "Image sightings handed to the recorder.",
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
	metrics.Registry.MustRegister(decisionsVec, imagesLearned, invalidRefs)
}

func count(r reason) { decisions[r].Inc() }
