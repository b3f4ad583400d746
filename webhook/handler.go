package webhook

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/go-logr/logr"
	admissionv1 "k8s.io/api/admission/v1"
	"k8s.io/apimachinery/pkg/labels"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	"prepuller.dev/prepuller/puller/imageset"
	"prepuller.dev/prepuller/puller/inventory"
)

// Path is where the webhook server serves the handler.
const Path = "/mutate-v1-pod"

// NodeInventory answers "which eligible nodes hold this image" from memory.
// *inventory.Inventory satisfies it.
type NodeInventory interface {
	Presence(image string, max int) inventory.Presence
}

var _ NodeInventory = (*inventory.Inventory)(nil)

// Handler learns the images of user pods and steers each pod toward nodes
// that hold its image. It answers from memory: no API calls, and any error
// lets the pod through unchanged.
type Handler struct {
	opts      Options
	selector  labels.Selector
	scope     scope
	recorder  imageset.Recorder
	inventory NodeInventory
	norm      normalizer
	now       func() time.Time
	log       logr.Logger
}

var _ admission.Handler = &Handler{}

// NewHandler checks opts and deps and builds the handler.
func NewHandler(opts Options, deps Deps) (*Handler, error) {
	if err := opts.ValidateFor(deps.Namespace); err != nil {
		return nil, fmt.Errorf("webhook options: %w", err)
	}
	if deps.Namespace == "" {
		return nil, fmt.Errorf("webhook: prepuller's own namespace is empty")
	}
	if deps.Recorder == nil || deps.Inventory == nil {
		return nil, fmt.Errorf("webhook: Recorder and Inventory are required")
	}
	sel, err := labels.Parse(opts.PodSelector)
	if err != nil {
		return nil, fmt.Errorf("webhook.podSelector: %w", err)
	}
	return &Handler{
		opts:      opts,
		selector:  sel,
		scope:     opts.scope(deps.Namespace),
		recorder:  deps.Recorder,
		inventory: deps.Inventory,
		now:       timeNow,
		log:       logf.Log.WithName("webhook"),
	}, nil
}

// Handle admits every pod. It may add the webhook's affinity term and the
// steered annotation; it never denies.
func (h *Handler) Handle(ctx context.Context, req admission.Request) (resp admission.Response) {
	defer func() {
		// controller-runtime would turn a panic into an error response,
		// which the API server counts as a denial, not a webhook failure.
		// Let the pod through instead.
		if r := recover(); r != nil {
			count(reasonPanic)
			h.reqLog(&req).Error(fmt.Errorf("panic: %v", r), "recovered in admission handler; pod admitted unchanged")
			resp = admission.Allowed("")
		}
	}()

	if req.UID == "" {
		// The API server always sets a UID: this is not an AdmissionReview
		// it sent. Say so rather than pretend to admit something.
		return admission.Errored(http.StatusBadRequest, fmt.Errorf("AdmissionReview has no request (or a request without uid)"))
	}
	if req.Operation != admissionv1.Create || req.Kind.Group != "" || req.Kind.Kind != "Pod" || req.SubResource != "" {
		count(reasonNotPodCreate)
		return admission.Allowed("")
	}
	if !h.scope.contains(req.Namespace) {
		count(reasonNamespace)
		return admission.Allowed("")
	}
	p, err := decodePod(req.Object.Raw)
	if err != nil {
		count(reasonDecode)
		h.reqLog(&req).Error(err, "pod admitted unchanged")
		return admission.Allowed("")
	}
	if !h.selector.Matches(labels.Set(p.Metadata.Labels)) {
		count(reasonSelector)
		return admission.Allowed("")
	}
	if p.Metadata.Annotations[AnnotationSkip] == "true" {
		count(reasonSkipAnno)
		return admission.Allowed("")
	}
	if req.DryRun != nil && *req.DryRun {
		// sideEffects NoneOnDryRun: a dry run learns nothing. It is not
		// steered either, so what it shows is the pod as submitted.
		count(reasonDryRun)
		return admission.Allowed("")
	}

	h.discover(&req, p)

	d := h.decide(p)
	ops := patch(p, d)
	if len(ops) == 0 && d.term != nil {
		d.reason = reasonAlreadySteered
	}
	count(d.reason)
	if h.log.V(1).Enabled() {
		h.reqLog(&req).V(1).Info("admitted", "steered", d.message, "operations", len(ops))
	}
	if len(ops) == 0 {
		return admission.Allowed("")
	}
	return admission.Patched("", ops...)
}

// reqLog is built only when something is logged: WithValues allocates.
func (h *Handler) reqLog(req *admission.Request) logr.Logger {
	return h.log.WithValues("namespace", req.Namespace, "name", req.Name, "uid", req.UID)
}

// Deps are what the webhook needs from the rest of prepuller.
type Deps struct {
	// Namespace prepuller runs in; never looked at.
	Namespace string
	// Recorder takes the images seen; it must not block.
	Recorder imageset.Recorder
	// Inventory says which nodes hold which image.
	Inventory NodeInventory
}
