package webhook

import (
	"context"
	"fmt"
	"time"

	"github.com/go-logr/logr"
	admissionv1 "k8s.io/api/admission/v1"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
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
	Presence(image string, max int) inventory.Presence
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
	scope, err := opts.Scope(deps.Namespace)
	if err != nil {
		return nil, err
	}
	return &Handler{
		opts:      opts,
		scope:     scope,
		recorder:  deps.Recorder,
		inventory: deps.Inventory,
		norm:      imageref.NewCache(normCacheSize),
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
		// The API server always sets a UID, so this review is not one it
		// sent (controller-runtime already answered undecodable bodies).
		// An errored answer would count as a denial: admit, and say why.
		count(reasonNoUID)
		h.reqLog(&req).Info("AdmissionReview has no request (or a request without uid); admitted unchanged")
		return admission.Allowed("").WithWarnings("prepuller: AdmissionReview has no request (or a request without uid); nothing done")
	}
	if req.Operation != admissionv1.Create || req.Kind.Group != "" || req.Kind.Kind != "Pod" || req.SubResource != "" {
		count(reasonNotPodCreate)
		return admission.Allowed("")
	}
	// The namespace alone is known before decoding the pod.
	if !h.scope.Namespaces.Contains(req.Namespace) {
		count(reasonNamespace)
		return admission.Allowed("")
	}
	p, err := decodePod(req.Object.Raw)
	if err != nil {
		count(reasonDecode)
		h.reqLog(&req).Error(err, "pod admitted unchanged")
		return admission.Allowed("")
	}
	switch h.scope.Check(req.Namespace, p.Metadata.Labels, p.Metadata.Annotations) {
	case userpod.In:
	case userpod.OtherNamespace:
		count(reasonNamespace)
		return admission.Allowed("")
	case userpod.NotSelected:
		count(reasonSelector)
		return admission.Allowed("")
	case userpod.OptedOut:
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
