package webhook

import (
	"context"
	"errors"
	"fmt"

	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus"
	admissionv1 "k8s.io/api/admission/v1"
	"k8s.io/utils/clock"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	crmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	"prepuller.dev/prepuller/pkg/imageref"
	"prepuller.dev/prepuller/pkg/imageset"
	"prepuller.dev/prepuller/pkg/inventory"
	"prepuller.dev/prepuller/pkg/userpod"
)

// Path is where the webhook server serves the handler.
const Path = "/mutate-v1-pod"

// NodeInventory answers "which eligible nodes hold this image" from memory.
// *inventory.Inventory satisfies it.
type NodeInventory interface {
	Presence(image string, max int, key uint64) inventory.Presence
}

var _ NodeInventory = (*inventory.Inventory)(nil)

// Handler learns the images of user pods and steers each pod toward nodes
// that hold its image. It answers from memory: no API calls, and any error
// lets the pod through unchanged.
type Handler struct {
	opts      Options
	scope     *userpod.Scope
	recorder  imageset.Recorder
	inventory NodeInventory
	norm      *imageref.Cache
	clock     clock.PassiveClock
	metrics   *handlerMetrics
}

var _ admission.Handler = &Handler{}

// NewHandler checks opts and deps and builds the handler.
func NewHandler(opts Options, deps Deps) (*Handler, error) {
	if err := opts.Validate(); err != nil {
		return nil, fmt.Errorf("webhook options: %w", err)
	}
	if deps.Namespace == "" {
		return nil, fmt.Errorf("webhook: prepuller's own namespace is empty")
	}
	if deps.Recorder == nil || deps.Inventory == nil {
		return nil, fmt.Errorf("webhook: Recorder and Inventory are required")
	}
	if deps.Scope == nil || deps.Scope.Selector == nil || deps.Scope.Selector.Empty() {
		return nil, errors.New("a user pod scope with a selector is required")
	}
	clk := deps.Clock
	if clk == nil {
		clk = clock.RealClock{}
	}
	reg := deps.Metrics
	if reg == nil {
		reg = crmetrics.Registry
	}
	m, err := newHandlerMetrics(reg)
	if err != nil {
		return nil, err
	}
	return &Handler{
		opts:      opts,
		scope:     deps.Scope,
		recorder:  deps.Recorder,
		inventory: deps.Inventory,
		norm:      imageref.NewCache(normCacheSize),
		clock:     clk,
		metrics:   m,
	}, nil
}

// Handle admits every pod; it never denies. It adds the webhook's affinity
// term and the steered annotation to a pod it steers, corrects them on a
// pod that carries them from an earlier pass, and leaves any other pod as
// it is.
func (h *Handler) Handle(ctx context.Context, req admission.Request) (resp admission.Response) {
	defer func() {
		// controller-runtime would turn a panic into an error response,
		// which the API server counts as a denial, not a webhook failure.
		// Let the pod through instead.
		if r := recover(); r != nil {
			h.metrics.count(reasonPanic)
			reqLog(ctx, &req).Error(fmt.Errorf("panic: %v", r), "recovered in admission handler; pod admitted unchanged")
			resp = admission.Allowed("")
		}
	}()

	if req.UID == "" {
		// The API server always sets a UID, so this review is not one it
		// sent (controller-runtime already answered undecodable bodies).
		// An errored answer would count as a denial: admit, and say why.
		h.metrics.count(reasonNoUID)
		reqLog(ctx, &req).Info("AdmissionReview has no request (or a request without uid); admitted unchanged")
		return admission.Allowed("").WithWarnings("prepuller: AdmissionReview has no request (or a request without uid); nothing done")
	}
	if req.Operation != admissionv1.Create || req.Kind.Group != "" || req.Kind.Kind != "Pod" || req.SubResource != "" {
		h.metrics.count(reasonNotPodCreate)
		return admission.Allowed("")
	}
	// The namespace alone is known before decoding the pod.
	if !h.scope.Namespaces.Contains(req.Namespace) {
		h.metrics.count(reasonNamespace)
		return admission.Allowed("")
	}
	p, err := decodePod(req.Object.Raw)
	if err != nil {
		h.metrics.count(reasonDecode)
		reqLog(ctx, &req).Error(err, "pod admitted unchanged")
		return admission.Allowed("")
	}
	switch h.scope.Check(req.Namespace, p.Metadata.Labels, p.Metadata.Annotations) {
	case userpod.In:
	case userpod.OtherNamespace:
		h.metrics.count(reasonNamespace)
		return admission.Allowed("")
	case userpod.NotSelected:
		h.metrics.count(reasonSelector)
		return admission.Allowed("")
	case userpod.OptedOut:
		h.metrics.count(reasonSkipAnno)
		return admission.Allowed("")
	}
	if req.DryRun != nil && *req.DryRun {
		// sideEffects NoneOnDryRun: a dry run learns nothing. It is not
		// steered either, so what it shows is the pod as submitted.
		h.metrics.count(reasonDryRun)
		return admission.Allowed("")
	}

	h.discover(ctx, &req, p)

	d := h.decide(p, steerKey(req.Namespace, p))
	ops := patch(p, d)
	if len(ops) == 0 && d.term != nil {
		d.reason = reasonAlreadySteered
	}
	h.metrics.count(d.reason)
	if log := logf.FromContext(ctx); log.V(1).Enabled() {
		reqLog(ctx, &req).V(1).Info("admitted", "steered", d.message, "operations", len(ops))
	}
	if len(ops) == 0 {
		if d.reason == reasonBadImage {
			// Not learned, not steered, and nothing written to the pod:
			// say why to whoever created it (kubectl prints warnings).
			return admission.Allowed("").WithWarnings("prepuller: " + d.message)
		}
		return admission.Allowed("")
	}
	return admission.Patched("", ops...)
}

// reqLog is the logger controller-runtime put in the request's context
// (it names the webhook and the request), built only when something is
// logged: WithValues allocates.
func reqLog(ctx context.Context, req *admission.Request) logr.Logger {
	return logf.FromContext(ctx).WithName("webhook").WithValues("namespace", req.Namespace, "name", req.Name, "uid", req.UID)
}

// Deps are what the webhook needs from the rest of prepuller.
type Deps struct {
	// Namespace prepuller runs in; never looked at.
	Namespace string
	// Scope is which pods are user pods (userpod.Options.Scope, parsed
	// once and shared with the puller's watch).
	Scope *userpod.Scope
	// Recorder takes the pods admitted; it must not block.
	Recorder imageset.Recorder
	// Inventory says which nodes hold which image.
	Inventory NodeInventory
	// Clock is optional; nil uses the real clock.
	Clock clock.PassiveClock
	// Metrics is where the webhook's series are registered; nil uses
	// controller-runtime's registry, which the manager serves.
	Metrics prometheus.Registerer
}
