package puller

import (
	"context"
	"fmt"
	"testing"

	"github.com/google/go-cmp/cmp"
	appsv1 "k8s.io/api/apps/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"

	"prepuller.dev/prepuller/puller/render"
)

// A write over a stale cached copy is retried once over a fresh read;
// a second conflict is returned for the next sync.
func TestWriteDaemonSetConflict(t *testing.T) {
	cases := map[string]struct {
		conflicts int
		wantErr   bool
	}{
		"no conflict":                   {conflicts: 0},
		"stale cache: retried and done": {conflicts: 1},
		"someone else keeps writing":    {conflicts: 2, wantErr: true},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			stored := named(daemonSet(1, appsv1.DaemonSetStatus{}, "docker.io/org/a:1"))
			updates, left := 0, tc.conflicts
			k := fake.NewClientBuilder().WithObjects(stored).WithInterceptorFuncs(interceptor.Funcs{
				Update: func(ctx context.Context, c client.WithWatch, obj client.Object, opts ...client.UpdateOption) error {
					updates++
					if left > 0 {
						left--
						// Someone else wrote meanwhile: a retry over the
						// stale copy would conflict for real.
						var cur appsv1.DaemonSet
						if err := c.Get(ctx, client.ObjectKeyFromObject(obj), &cur); err != nil {
							return err
						}
						cur.Status.NumberReady++
						if err := c.Update(ctx, &cur); err != nil {
							return err
						}
						return apierrors.NewConflict(schema.GroupResource{Group: "apps", Resource: "daemonsets"}, obj.GetName(), fmt.Errorf("the object has been modified"))
					}
					return c.Update(ctx, obj, opts...)
				},
			}).Build()
			var live appsv1.DaemonSet
			if err := k.Get(ctx, client.ObjectKeyFromObject(stored), &live); err != nil {
				t.Fatal(err)
			}
			c := &reconciler{m: testMetrics(t), client: k, reader: k, ns: stored.Namespace, opts: Options{DaemonSetName: stored.Name}}
			desired := named(daemonSet(1, appsv1.DaemonSetStatus{}, "docker.io/org/a:1", "docker.io/org/b:1"))

			_, err := c.writeDaemonSet(ctx, desired, &live)
			if tc.wantErr {
				if !apierrors.IsConflict(err) {
					t.Fatalf("err = %v, want a conflict", err)
				}
				if updates != 2 {
					t.Errorf("%d updates, want 2 (no retry loop)", updates)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var got appsv1.DaemonSet
			if err := k.Get(ctx, client.ObjectKeyFromObject(stored), &got); err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff([]string{"docker.io/org/a:1", "docker.io/org/b:1"}, render.Images(&got)); diff != "" {
				t.Errorf("stored DaemonSet pulls (-want +got):\n%s", diff)
			}
		})
	}
}

func named(ds *appsv1.DaemonSet) *appsv1.DaemonSet {
	ds.Name, ds.Namespace = "prepuller-puller", "prepuller"
	ds.Spec.Selector = &metav1.LabelSelector{MatchLabels: map[string]string{"prepuller.dev/puller": "prepuller-puller"}}
	return ds
}
