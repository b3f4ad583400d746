package certs

import (
	"context"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/open-policy-agent/cert-controller/pkg/rotator"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/types"
	toolscache "k8s.io/client-go/tools/cache"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/manager"
)

// FieldOwner is the field manager of the caBundle prepuller writes.
const FieldOwner = "prepuller"

// resyncInterval: besides every change of the Secret, the files are compared
// with it this often, which repairs a directory someone else touched.
const resyncInterval = time.Minute

// setupSelfSigned wires cert-controller's rotator, which keeps the CA and
// serving certificate in the Secret and the CA in the webhook
// configuration's caBundle, and secretSync, which copies the Secret into
// CertDir. The rotator runs on every replica: whichever writes the Secret
// first wins (the others get a conflict and re-read), so all replicas
// serve from one Secret without waiting for leader election.
func setupSelfSigned(mgr manager.Manager, opts Options, deps Deps) (<-chan struct{}, error) {
	if err := ensureLoadable(deps.CertDir, time.Now()); err != nil {
		return nil, err
	}
	names := opts.dnsNames(deps.Namespace)
	caInjected := make(chan struct{})
	cr := &rotator.CertRotator{
		SecretKey:      types.NamespacedName{Namespace: deps.Namespace, Name: opts.SecretName},
		CertDir:        deps.CertDir,
		CAName:         "prepuller-ca",
		CAOrganization: "prepuller",
		DNSName:        names[0],
		ExtraDNSNames:  names[1:],
		IsReady:        caInjected,
		Webhooks:       []rotator.WebhookInfo{{Name: opts.WebhookConfigName, Type: rotator.Mutating}},
		FieldOwner:     FieldOwner,
		// Every replica serves, so every replica must be able to get a
		// certificate without being the leader.
		RequireLeaderElection:  false,
		CaCertDuration:         opts.CAValidity.Duration,
		ServerCertDuration:     opts.CertValidity.Duration,
		LookaheadInterval:      opts.RenewBefore.Duration,
		RotationCheckFrequency: opts.CheckInterval.Duration,
		// Controller names must be unique in a process; tests start several
		// managers (replicas) in one.
		ControllerName: rotatorName(),
	}
	if err := rotator.AddRotator(mgr, cr); err != nil {
		return nil, fmt.Errorf("adding certificate rotator: %w", err)
	}

	// A cache of exactly one Secret: reading Secrets through the manager's
	// cache would watch every Secret in the cluster.
	secrets, err := cache.New(mgr.GetConfig(), cache.Options{
		Scheme: mgr.GetScheme(),
		Mapper: mgr.GetRESTMapper(),
		ByObject: map[client.Object]cache.ByObject{
			&corev1.Secret{}: {
				Namespaces: map[string]cache.Config{deps.Namespace: {}},
				Field:      fields.OneTermEqualSelector("metadata.name", opts.SecretName),
			},
		},
	})
	if err != nil {
		return nil, fmt.Errorf("creating Secret cache: %w", err)
	}
	if err := mgr.Add(alwaysRunning{secrets}); err != nil {
		return nil, fmt.Errorf("adding Secret cache: %w", err)
	}
	s := &secretSync{
		reader:     secrets,
		informers:  secrets,
		key:        cr.SecretKey,
		dir:        deps.CertDir,
		dnsName:    names[0],
		caInjected: caInjected,
		ready:      make(chan struct{}),
		now:        time.Now,
	}
	if err := mgr.Add(s); err != nil {
		return nil, fmt.Errorf("adding certificate file sync: %w", err)
	}
	return s.ready, nil
}

var rotators atomic.Int32

// rotatorName is "prepuller-cert-rotator" for the first rotator of the
// process and numbered after that.
func rotatorName() string {
	if n := rotators.Add(1); n > 1 {
		return fmt.Sprintf("prepuller-cert-rotator-%d", n)
	}
	return "prepuller-cert-rotator"
}

var (
	_ manager.Runnable               = alwaysRunning{}
	_ manager.LeaderElectionRunnable = alwaysRunning{}
	_ manager.Runnable               = &secretSync{}
	_ manager.LeaderElectionRunnable = &secretSync{}
)

// alwaysRunning starts a cache on every replica, leader or not.
type alwaysRunning struct{ manager.Runnable }

func (alwaysRunning) NeedLeaderElection() bool { return false }

// secretSync writes the Secret's serving key pair to the certificate
// directory whenever it changes and is valid, and closes ready once the
// directory holds a valid pair and the CA has been injected.
type secretSync struct {
	reader     client.Reader
	informers  cache.Informers
	key        types.NamespacedName
	dir        string
	dnsName    string
	caInjected <-chan struct{}
	ready      chan struct{}
	now        func() time.Time

	readyClosed bool
}

func (s *secretSync) NeedLeaderElection() bool { return false }

func (s *secretSync) Start(ctx context.Context) error {
	log := logf.FromContext(ctx).WithName("certs").WithValues("secret", s.key, "dir", s.dir)
	ctx = logf.IntoContext(ctx, log)
	changed := make(chan struct{}, 1)
	poke := func() {
		select {
		case changed <- struct{}{}:
		default: // a sync is already pending; it reads the newest Secret
		}
	}
	inf, err := s.informers.GetInformer(ctx, &corev1.Secret{})
	if err != nil {
		return fmt.Errorf("getting Secret informer: %w", err)
	}
	if _, err := inf.AddEventHandler(toolscache.ResourceEventHandlerFuncs{
		AddFunc:    func(any) { poke() },
		UpdateFunc: func(any, any) { poke() },
	}); err != nil {
		return fmt.Errorf("watching Secret: %w", err)
	}
	t := time.NewTicker(resyncInterval)
	defer t.Stop()
	for {
		s.sync(ctx)
		select {
		case <-ctx.Done():
			return nil
		case <-changed:
		case <-t.C:
		case <-s.injectedOnce():
		}
	}
}

// injectedOnce wakes the loop when the CA injection completes, but only
// until ready is closed (a closed channel would spin the loop).
func (s *secretSync) injectedOnce() <-chan struct{} {
	if s.readyClosed {
		return nil
	}
	return s.caInjected
}

// sync copies a valid key pair from the Secret to the directory. An invalid
// or missing pair in the Secret leaves the files alone: the rotator is about
// to replace it, and serving the previous pair until then fails nothing.
func (s *secretSync) sync(ctx context.Context) {
	log := logf.FromContext(ctx)
	secret := &corev1.Secret{}
	if err := s.reader.Get(ctx, s.key, secret); err != nil {
		log.V(1).Info("Reading the certificate Secret failed; waiting for the next event", "error", err)
		return
	}
	ca, crt, key := secret.Data[CAFile], secret.Data[CertFile], secret.Data[KeyFile]
	if err := verifyServing(ca, crt, key, s.dnsName, s.now()); err != nil {
		log.V(1).Info("Secret holds no valid serving certificate yet", "reason", err)
		return
	}
	wrote, err := writeKeyPair(s.dir, crt, key)
	if err != nil {
		log.Error(err, "writing serving certificate")
		return
	}
	if wrote {
		log.Info("serving certificate written")
	}
	if s.readyClosed {
		return
	}
	select {
	case <-s.caInjected:
	default:
		return
	}
	fileCrt, fileKey, err := readKeyPair(s.dir)
	if err != nil {
		return
	}
	if err := verifyServing(ca, fileCrt, fileKey, s.dnsName, s.now()); err != nil {
		return
	}
	log.Info("serving certificate ready")
	close(s.ready)
	s.readyClosed = true
}
