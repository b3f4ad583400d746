package puller

import (
	"errors"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
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
	// PauseImage runs as the DaemonSet's main container.
	PauseImage string `json:"pauseImage"`
	// WriteInterval is the shortest time between two DaemonSet updates.
	WriteInterval metav1Duration `json:"writeInterval"`
	// TTL: an image no pod used for this long leaves the set.
	TTL metav1Duration `json:"ttl"`
	// MaxImages caps the images in the DaemonSet (static ones included).
	MaxImages int `json:"maxImages"`
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
}

// DefaultOptions returns the documented defaults.
func DefaultOptions() Options {
	return Options{
		DaemonSetName: "prepuller-puller",
		Image:         "ghcr.io/prepuller/prepuller:latest",
		PauseImage:    "registry.k8s.io/pause:3.10.2",
		WriteInterval: duration(10 * time.Second),
		TTL:           duration(7 * 24 * time.Hour),
		MaxImages:     30,
		MinUsers:      1,
		Tolerations: []corev1.Toleration{
			{Key: "hub.jupyter.org/dedicated", Operator: corev1.TolerationOpEqual, Value: "user", Effect: corev1.TaintEffectNoSchedule},
			{Key: "hub.jupyter.org_dedicated", Operator: corev1.TolerationOpEqual, Value: "user", Effect: corev1.TaintEffectNoSchedule},
		},
		MaxUnavailable:     intstr.FromString("100%"),
		FailureGracePeriod: duration(5 * time.Minute),
		FailureMinNodes:    2,
	}
}

// Validate reports every invalid field, each named by its path in the
// configuration file.
func (o Options) Validate() error {
	var errs []error
	if o.DaemonSetName == "" {
		errs = append(errs, errors.New("puller.daemonSetName: must not be empty"))
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
	if o.TTL.Duration <= 0 {
		errs = append(errs, fmt.Errorf("puller.ttl: %s must be positive", o.TTL.Duration))
	}
	if o.MaxImages < 1 {
		errs = append(errs, fmt.Errorf("puller.maxImages: %d must be at least 1", o.MaxImages))
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
	return errors.Join(errs...)
}
