package ops_test

import (
	"context"
	"errors"
	"io/fs"
	"path/filepath"
	"strings"
	"testing"

	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"prepuller.dev/prepuller/cmd/prepuller/ops"
)

// TestConnect: --kubeconfig, --context and -n resolve as kubectl resolves
// them, against the test API server.
func TestConnect(t *testing.T) {
	ctx := context.Background()
	// A kubeconfig with the cluster's context, renamed, plus a second
	// context that sets a namespace, current.
	kc, err := clientcmd.LoadFromFile(kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	base := kc.Contexts[kc.CurrentContext].DeepCopy()
	withNS := base.DeepCopy()
	withNS.Namespace = "from-context"
	kc.Contexts = map[string]*clientcmdapi.Context{"plain": base, "hub": withNS}
	kc.CurrentContext = "hub"
	path := filepath.Join(t.TempDir(), "kubeconfig")
	if err := clientcmd.WriteToFile(*kc, path); err != nil {
		t.Fatal(err)
	}
	for name, tc := range map[string]struct {
		context, namespace, want string
	}{
		"current context's namespace": {want: "from-context"},
		"flag wins":                   {namespace: "flag", want: "flag"},
		"other context":               {context: "plain", want: "default"},
	} {
		t.Run(name, func(t *testing.T) {
			c, ns, err := ops.Connect(path, tc.context, tc.namespace)
			if err != nil {
				t.Fatal(err)
			}
			if ns != tc.want {
				t.Errorf("namespace = %q, want %q", ns, tc.want)
			}
			// The client reaches the API server: an empty namespace
			// loads, with notes.
			if _, err := ops.Load(ctx, c, ns, t0); err != nil {
				t.Errorf("Load: %v", err)
			}
		})
	}
	if _, _, err := ops.Connect(path, "absent", ""); err == nil || !strings.Contains(err.Error(), "absent") {
		t.Errorf("Connect with an unknown context = %v, want an error naming it", err)
	}
	if _, _, err := ops.Connect(filepath.Join(t.TempDir(), "none"), "", ""); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Connect with a missing kubeconfig = %v, want a not-exist error", err)
	}
}
