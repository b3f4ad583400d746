package pullsecrets

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"maps"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	crmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"

	"prepuller.dev/prepuller/pkg/promutil"
)

// AnnotationSource marks a copy with where it came from (namespace/name).
// A Secret of a mirrored name without it is not prepuller's and is left
// alone.
const AnnotationSource = "prepuller.dev/mirrored-from"

// Interval is how often the copies are compared with their sources. The
// mirror polls with GETs by name instead of watching: RBAC can then grant
// exactly the named secrets, and a rotated registry credential reaches the
// copy within a minute, long before the puller next needs it.
const Interval = time.Minute

// Mirror copies the configured secrets into Namespace.
type Mirror struct {
	Opts Options
	// Namespace is prepuller's.
	Namespace string
	// Reader reads Secrets from the API server, uncached: a cache would
	// list and watch Secrets, which RBAC does not grant.
	Reader client.Reader
	Writer client.Writer
	errors *prometheus.CounterVec
}

var (
	_ manager.Runnable               = &Mirror{}
	_ manager.LeaderElectionRunnable = &Mirror{}
)

// Setup adds a Mirror to the manager when opts are enabled. It runs on
// the leader only (one writer).
func Setup(mgr manager.Manager, opts Options, namespace string, reg prometheus.Registerer) error {
	if !opts.Enabled() {
		return nil
	}
	m, err := New(opts, namespace, mgr.GetAPIReader(), mgr.GetClient(), reg)
	if err != nil {
		return err
	}
	if err := mgr.Add(m); err != nil {
		return fmt.Errorf("adding pull secret mirror: %w", err)
	}
	return nil
}

// New returns a Mirror; reg nil means controller-runtime's registry.
func New(opts Options, namespace string, r client.Reader, w client.Writer, reg prometheus.Registerer) (*Mirror, error) {
	if err := opts.Validate("puller.mirrorPullSecrets"); err != nil {
		return nil, err
	}
	if opts.Namespace == namespace {
		return nil, fmt.Errorf("puller.mirrorPullSecrets.namespace: %q is prepuller's own namespace; list its secrets in puller.pullSecrets", namespace)
	}
	if reg == nil {
		reg = crmetrics.Registry
	}
	vec, err := promutil.Register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "prepuller_pull_secret_mirror_errors_total",
		Help: "Failed copies of a mirrored pull secret (puller.mirrorPullSecrets), by secret: missing at the source, forbidden, or a Secret of that name prepuller did not create.",
	}, []string{"secret"}))
	if err != nil {
		return nil, fmt.Errorf("registering pull secret mirror metrics: %w", err)
	}
	for _, n := range opts.Names {
		vec.WithLabelValues(n)
	}
	return &Mirror{Opts: opts, Namespace: namespace, Reader: r, Writer: w, errors: vec}, nil
}

func (m *Mirror) NeedLeaderElection() bool { return true }

// Start copies every secret now and then every Interval until ctx ends.
func (m *Mirror) Start(ctx context.Context) error {
	log := logf.FromContext(ctx).WithName("pullsecrets")
	t := time.NewTicker(Interval)
	defer t.Stop()
	last := map[string]string{}
	for {
		for _, name := range m.Opts.Names {
			msg := ""
			if err := m.Sync(ctx, name); err != nil {
				msg = err.Error()
			}
			// Log a change of outcome, not every minute's repeat.
			if msg != last[name] {
				if msg != "" {
					log.Error(errors.New(msg), "mirroring pull secret", "secret", name)
				} else {
					log.Info("pull secret mirrored", "secret", name, "from", m.Opts.Namespace)
				}
				last[name] = msg
			}
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// Sync makes the copy of one secret equal its source.
func (m *Mirror) Sync(ctx context.Context, name string) error {
	err := m.sync(ctx, name)
	if err != nil {
		m.errors.WithLabelValues(name).Inc()
	}
	return err
}

func (m *Mirror) sync(ctx context.Context, name string) error {
	var src corev1.Secret
	if err := m.Reader.Get(ctx, client.ObjectKey{Namespace: m.Opts.Namespace, Name: name}, &src); err != nil {
		return fmt.Errorf("reading %s/%s: %w", m.Opts.Namespace, name, err)
	}
	source := m.Opts.Namespace + "/" + name
	var cur corev1.Secret
	err := m.Reader.Get(ctx, client.ObjectKey{Namespace: m.Namespace, Name: name}, &cur)
	switch {
	case apierrors.IsNotFound(err):
		cp := &corev1.Secret{
			ObjectMeta: metav1.ObjectMeta{
				Name: name, Namespace: m.Namespace,
				Labels:      map[string]string{"app.kubernetes.io/managed-by": "prepuller"},
				Annotations: map[string]string{AnnotationSource: source},
			},
			Type: src.Type,
			Data: src.Data,
		}
		if err := m.Writer.Create(ctx, cp); err != nil {
			return fmt.Errorf("creating %s/%s: %w", m.Namespace, name, err)
		}
		return nil
	case err != nil:
		return fmt.Errorf("reading %s/%s: %w", m.Namespace, name, err)
	}
	if cur.Annotations[AnnotationSource] != source {
		return fmt.Errorf("%s/%s exists and is not a copy of %s (no %s annotation); rename or delete it", m.Namespace, name, source, AnnotationSource)
	}
	if cur.Type != src.Type {
		// The type of a Secret cannot change; the copy has to be
		// replaced, which needs delete, and RBAC does not grant it.
		return fmt.Errorf("%s/%s has type %s, its source %s; delete the copy and prepuller recreates it", m.Namespace, name, cur.Type, src.Type)
	}
	if maps.EqualFunc(cur.Data, src.Data, bytes.Equal) {
		return nil
	}
	cur.Data = src.Data
	if err := m.Writer.Update(ctx, &cur); err != nil {
		return fmt.Errorf("updating %s/%s: %w", m.Namespace, name, err)
	}
	return nil
}
