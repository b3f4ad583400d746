package webhook

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"

	"prepuller.dev/prepuller/pkg/promutil"
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
	reasonWindow         = reason{outcomeSteered, "window"}
	reasonAllBusy        = reason{outcomeSteered, "holders_busy"}
	reasonAlreadySteered = reason{outcomeSteered, "already_steered"}

	reasonSteerOff    = reason{outcomeNotSteered, "steer_annotation"}
	reasonNoHolder    = reason{outcomeNotSteered, "no_holder"}
	reasonAllHold     = reason{outcomeNotSteered, "all_hold"}
	reasonNoNames     = reason{outcomeNotSteered, "no_names"}
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
		reasonHolders, reasonComplement, reasonWindow, reasonAllBusy, reasonAlreadySteered,
		reasonSteerOff, reasonNoHolder, reasonAllHold, reasonNoNames, reasonNoEligible, reasonBadImage, reasonNoContainer,
		reasonNotPodCreate, reasonNamespace, reasonSelector, reasonSkipAnno, reasonDryRun,
		reasonDecode, reasonNoUID, reasonPanic,
	}
)

// handlerMetrics are the webhook's series, registered by NewHandler on the
// registry it is given (Deps.Metrics), not in init().
type handlerMetrics struct {
	// decisions holds one resolved counter per reason: the request path
	// does no label lookup.
	decisions map[reason]prometheus.Counter
	// Counted here, whatever the recorder then does with them: only the
	// leader keeps admissions, and only pods that then exist are learned
	// (prepuller_puller_admissions_total says which).
	imagesSeen         prometheus.Counter
	extraImagesDropped prometheus.Counter
	invalidRefs        prometheus.Counter
}

func newHandlerMetrics(reg prometheus.Registerer) (*handlerMetrics, error) {
	r := &promutil.Registrar{Reg: reg}
	vec := promutil.Add(r, prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "prepuller_webhook_decisions_total",
		Help: "Admission requests by outcome (steered, not_steered, skipped, error) and reason.",
	}, []string{"outcome", "reason"}))
	m := &handlerMetrics{
		decisions: map[reason]prometheus.Counter{},
		imagesSeen: promutil.Add(r, prometheus.NewCounter(prometheus.CounterOpts{
			Name: "prepuller_webhook_images_seen_total",
			Help: "Distinct images seen in admitted user pods. They are learned once the pod exists (see prepuller_puller_admissions_total).",
		})),
		extraImagesDropped: promutil.Add(r, prometheus.NewCounter(prometheus.CounterOpts{
			Name: "prepuller_webhook_extra_images_dropped_total",
			Help: "Items of prepuller.dev/extra-images past the per-pod limit; they are not learned.",
		})),
		invalidRefs: promutil.Add(r, prometheus.NewCounter(prometheus.CounterOpts{
			Name: "prepuller_webhook_invalid_image_references_total",
			Help: "Image references in user pods (or prepuller.dev/extra-images) that do not parse; they are skipped.",
		})),
	}
	if r.Err != nil {
		return nil, fmt.Errorf("registering webhook metrics: %w", r.Err)
	}
	for _, rs := range allReasons {
		m.decisions[rs] = vec.WithLabelValues(rs.outcome, rs.name)
	}
	return m, nil
}

func (m *handlerMetrics) count(r reason) { m.decisions[r].Inc() }
