package puller

import (
	"errors"
	"fmt"
	"path"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/validation"

	"prepuller.dev/prepuller/pkg/imageref"
	"prepuller.dev/prepuller/puller/placement"
	"prepuller.dev/prepuller/puller/policy"
	"prepuller.dev/prepuller/puller/pullsecrets"
)

// Options configure the continuous-pull DaemonSet and how the learned image
// set is ranked, bounded and expired.
type Options struct {
	// DaemonSetName is the name of the puller DaemonSet in prepuller's
	// namespace.
	DaemonSetName string `json:"daemonSetName"`
	// Image is prepuller's own image; its no-op pull program is copied from
	// it into every puller pod.
	Image string `json:"image"`
	// NoopPath is where the no-op pull program (cmd/prepuller-noop) lives
	// inside Image. The first init container runs it with "-install" to
	// copy it into an emptyDir; every image's init container then runs the
	// copy, so images without a shell pull fine.
	NoopPath string `json:"noopPath"`
	// StateConfigMapName names the ConfigMap, in prepuller's namespace,
	// that persists the learned image set (see docs/puller-state.md).
	StateConfigMapName string `json:"stateConfigMapName"`
	// PauseImage runs as the DaemonSet's main container.
	PauseImage string `json:"pauseImage"`
	// WriteInterval is the shortest time between two DaemonSet updates.
	WriteInterval metav1Duration `json:"writeInterval"`
	// RolloutWait is the longest a DaemonSet write waits for the previous
	// rollout to replace every puller pod; 0 does not wait.
	RolloutWait metav1Duration `json:"rolloutWait"`
	// ResyncInterval is how often the controller re-checks everything even
	// when nothing happened (expiry, quarantine retries, hand edits missed
	// by the watch).
	ResyncInterval metav1Duration `json:"resyncInterval"`
	// TTL: an image no pod used for this long leaves the set.
	TTL metav1Duration `json:"ttl"`
	// MaxImages caps the images in the DaemonSet (static ones included),
	// at most MaxMaxImages.
	MaxImages int `json:"maxImages"`
	// MaxImagesPerPod bounds the images one user pod contributes (its
	// containers' first, then prepuller.dev/extra-images); the rest are
	// not learned from it.
	MaxImagesPerPod int `json:"maxImagesPerPod"`
	// MaxImagesPerUser bounds the images whose only user is one user that
	// are pulled; the user's most valuable ones are kept, the rest held.
	MaxImagesPerUser int `json:"maxImagesPerUser"`
	// NodeByteBudget, when above zero, caps the summed size of the pulled
	// images, counting images whose size is known.
	NodeByteBudget int64 `json:"nodeByteBudget,omitempty"`
	// StaticImages are always pulled and never expire.
	StaticImages []string `json:"staticImages,omitempty"`
	// Allow and Deny are image reference patterns (path.Match syntax on the
	// normalized reference). Empty Allow allows all.
	Allow []string `json:"allow,omitempty"`
	Deny  []string `json:"deny,omitempty"`
	// MinUsers is the number of distinct users an image needs before it is
	// pulled on every node.
	MinUsers int `json:"minUsers"`
	// PullSecrets are added to the DaemonSet's imagePullSecrets.
	PullSecrets []string `json:"pullSecrets,omitempty"`
	// MirrorPullSecrets keeps the named secrets of the hub's namespace
	// copied into prepuller's, and adds the copies to imagePullSecrets.
	MirrorPullSecrets pullsecrets.Options `json:"mirrorPullSecrets,omitzero"`
	// Scheduling of the puller pods; defaults match the JupyterHub chart's
	// user pods.
	Tolerations       []corev1.Toleration  `json:"tolerations,omitempty"`
	NodeSelector      map[string]string    `json:"nodeSelector,omitempty"`
	NodeAffinity      *corev1.NodeSelector `json:"nodeAffinity,omitempty"`
	PriorityClassName string               `json:"priorityClassName,omitempty"`
	// MaxUnavailable for the DaemonSet's rolling update.
	MaxUnavailable intstr.IntOrString `json:"maxUnavailable"`
	// FailureGracePeriod and FailureMinNodes decide when a failing image is
	// quarantined.
	FailureGracePeriod metav1Duration `json:"failureGracePeriod"`
	FailureMinNodes    int            `json:"failureMinNodes"`
	// QuarantineBackoff is how long a quarantined image stays out after its
	// first failure; it doubles after every failed retry, up to
	// QuarantineMaxBackoff.
	QuarantineBackoff    metav1Duration `json:"quarantineBackoff"`
	QuarantineMaxBackoff metav1Duration `json:"quarantineMaxBackoff"`
	// Placement decides how many and which nodes pull each learned image
	// (docs/placement.md).
	Placement placement.Options `json:"placement"`
}

// MaxMaxImages caps puller.maxImages. Every image is an init container of
// one pod and an entry of the state ConfigMap (under 1 MiB); a few hundred
// init containers also make each puller pod slow to start and to
// describe. A hub pulling more distinct images than this on every node
// wants a byte budget instead.
const MaxMaxImages = 200

// maxStateNameLen leaves room in a ConfigMap name (253) for the
// "-corrupt-<resourceVersion>" copy of a corrupt state.
const maxStateNameLen = 200

// DefaultOptions returns the documented defaults.
func DefaultOptions() Options {
	return Options{
		DaemonSetName:      "prepuller-puller",
		Image:              "ghcr.io/prepuller/prepuller:latest",
		NoopPath:           "/usr/local/bin/prepuller-noop",
		StateConfigMapName: "prepuller-puller-state",
		PauseImage:         "registry.k8s.io/pause:3.10.2",
		ResyncInterval:     duration(time.Minute),
		WriteInterval:      duration(10 * time.Second),
		RolloutWait:        duration(5 * time.Minute),
		TTL:                duration(7 * 24 * time.Hour),
		MaxImages:          30,
		MaxImagesPerPod:    16,
		MaxImagesPerUser:   8,
		MinUsers:           1,
		Tolerations: []corev1.Toleration{
			{Key: "hub.jupyter.org/dedicated", Operator: corev1.TolerationOpEqual, Value: "user", Effect: corev1.TaintEffectNoSchedule},
			{Key: "hub.jupyter.org_dedicated", Operator: corev1.TolerationOpEqual, Value: "user", Effect: corev1.TaintEffectNoSchedule},
		},
		MaxUnavailable:       intstr.FromString("100%"),
		FailureGracePeriod:   duration(5 * time.Minute),
		FailureMinNodes:      2,
		QuarantineBackoff:    duration(30 * time.Minute),
		QuarantineMaxBackoff: duration(24 * time.Hour),
		Placement:            placement.DefaultOptions(),
	}
}

// Validate reports every invalid field, each named by its path in the
// configuration file.
func (o Options) Validate() error {
	var errs []error
	// The name is also a label value on the puller pods: a DNS-1123 label
	// fits both.
	for _, e := range validation.IsDNS1123Label(o.DaemonSetName) {
		errs = append(errs, fmt.Errorf("puller.daemonSetName: %q: %s", o.DaemonSetName, e))
	}
	if o.Image == "" {
		errs = append(errs, errors.New("puller.image: must not be empty"))
	}
	if o.PauseImage == "" {
		errs = append(errs, errors.New("puller.pauseImage: must not be empty"))
	}
	if o.WriteInterval.Duration <= 0 {
		errs = append(errs, fmt.Errorf("puller.writeInterval: %s must be positive", o.WriteInterval.Duration))
	}
	if o.RolloutWait.Duration < 0 {
		errs = append(errs, fmt.Errorf("puller.rolloutWait: %s must not be negative", o.RolloutWait.Duration))
	}
	if o.TTL.Duration <= 0 {
		errs = append(errs, fmt.Errorf("puller.ttl: %s must be positive", o.TTL.Duration))
	}
	if o.MaxImages < 1 || o.MaxImages > MaxMaxImages {
		errs = append(errs, fmt.Errorf("puller.maxImages: %d must be between 1 and %d", o.MaxImages, MaxMaxImages))
	}
	if o.MaxImagesPerPod < 1 || o.MaxImagesPerPod > MaxMaxImages {
		errs = append(errs, fmt.Errorf("puller.maxImagesPerPod: %d must be between 1 and %d", o.MaxImagesPerPod, MaxMaxImages))
	}
	if o.MaxImagesPerUser < 1 || o.MaxImagesPerUser > MaxMaxImages {
		errs = append(errs, fmt.Errorf("puller.maxImagesPerUser: %d must be between 1 and %d", o.MaxImagesPerUser, MaxMaxImages))
	}
	if o.NodeByteBudget < 0 {
		errs = append(errs, fmt.Errorf("puller.nodeByteBudget: %d must not be negative", o.NodeByteBudget))
	}
	if o.MinUsers < 1 {
		errs = append(errs, fmt.Errorf("puller.minUsers: %d must be at least 1", o.MinUsers))
	}
	if o.FailureMinNodes < 1 {
		errs = append(errs, fmt.Errorf("puller.failureMinNodes: %d must be at least 1", o.FailureMinNodes))
	}
	if !path.IsAbs(o.NoopPath) {
		errs = append(errs, fmt.Errorf("puller.noopPath: %q must be an absolute path", o.NoopPath))
	}
	for _, e := range validation.IsDNS1123Subdomain(o.StateConfigMapName) {
		errs = append(errs, fmt.Errorf("puller.stateConfigMapName: %q: %s", o.StateConfigMapName, e))
	}
	if len(o.StateConfigMapName) > maxStateNameLen {
		errs = append(errs, fmt.Errorf("puller.stateConfigMapName: %d characters, at most %d (a corrupt state is copied to <name>-corrupt-<resourceVersion>)", len(o.StateConfigMapName), maxStateNameLen))
	}
	if o.ResyncInterval.Duration <= 0 {
		errs = append(errs, fmt.Errorf("puller.resyncInterval: %s must be positive", o.ResyncInterval.Duration))
	}
	if o.FailureGracePeriod.Duration < 0 {
		errs = append(errs, fmt.Errorf("puller.failureGracePeriod: %s must not be negative", o.FailureGracePeriod.Duration))
	}
	if o.QuarantineBackoff.Duration <= 0 {
		errs = append(errs, fmt.Errorf("puller.quarantineBackoff: %s must be positive", o.QuarantineBackoff.Duration))
	}
	if o.QuarantineMaxBackoff.Duration < o.QuarantineBackoff.Duration {
		errs = append(errs, fmt.Errorf("puller.quarantineMaxBackoff: %s must be at least puller.quarantineBackoff", o.QuarantineMaxBackoff.Duration))
	}
	if len(o.StaticImages) > o.MaxImages && o.MaxImages >= 1 {
		errs = append(errs, fmt.Errorf("puller.staticImages: %d images exceed puller.maxImages (%d)", len(o.StaticImages), o.MaxImages))
	}
	for i, img := range o.StaticImages {
		if _, err := imageref.Normalize(img); err != nil {
			errs = append(errs, fmt.Errorf("puller.staticImages[%d]: %w", i, err))
		}
	}
	for i, p := range o.Allow {
		if err := policy.Check(p); err != nil {
			errs = append(errs, fmt.Errorf("puller.allow[%d]: %w", i, err))
		}
	}
	for i, p := range o.Deny {
		if err := policy.Check(p); err != nil {
			errs = append(errs, fmt.Errorf("puller.deny[%d]: %w", i, err))
		}
	}
	for i, s := range o.PullSecrets {
		for _, e := range validation.IsDNS1123Subdomain(s) {
			errs = append(errs, fmt.Errorf("puller.pullSecrets[%d]: %q: %s", i, s, e))
		}
	}
	if err := o.Placement.Validate("puller.placement"); err != nil {
		errs = append(errs, err)
	}
	if n := len(o.DaemonSetName) + len(placedSuffix); o.Placement.Mode == placement.ModeDemand && n > validation.DNS1123LabelMaxLength {
		// The placed DaemonSet's name is a label value too.
		errs = append(errs, fmt.Errorf("puller.daemonSetName: %q is too long for its placed DaemonSet %q (%d characters, at most %d)", o.DaemonSetName, PlacedName(o), n, validation.DNS1123LabelMaxLength))
	}
	if err := o.MirrorPullSecrets.Validate("puller.mirrorPullSecrets"); err != nil {
		errs = append(errs, err)
	}
	if _, err := intstr.GetScaledValueFromIntOrPercent(&o.MaxUnavailable, 100, true); err != nil {
		errs = append(errs, fmt.Errorf("puller.maxUnavailable: %w", err))
	} else if o.MaxUnavailable.Type == intstr.Int && o.MaxUnavailable.IntVal < 1 {
		errs = append(errs, fmt.Errorf("puller.maxUnavailable: %d must be at least 1", o.MaxUnavailable.IntVal))
	}
	return errors.Join(errs...)
}
