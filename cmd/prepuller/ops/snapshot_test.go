package ops

import (
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
)

func TestLastWriteIgnoresStatus(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	ds := &appsv1.DaemonSet{ObjectMeta: metav1.ObjectMeta{ManagedFields: []metav1.ManagedFieldsEntry{
		{Manager: "prepuller", Operation: metav1.ManagedFieldsOperationUpdate, Time: ptr.To(metav1.NewTime(t0))},
		{Manager: "kube-controller-manager", Operation: metav1.ManagedFieldsOperationUpdate, Subresource: "status", Time: ptr.To(metav1.NewTime(t0.Add(time.Hour)))},
	}}}
	s := &Snapshot{DaemonSet: ds}
	if got := s.LastWrite(); !got.Equal(t0) {
		t.Errorf("LastWrite = %v, want %v (the status update is not a write)", got, t0)
	}
	if got := (&Snapshot{}).LastWrite(); !got.IsZero() {
		t.Errorf("LastWrite without a DaemonSet = %v, want zero", got)
	}
}

func TestLeader(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	lease := func(holder string, renewed time.Duration) *coordinationv1.Lease {
		return &coordinationv1.Lease{Spec: coordinationv1.LeaseSpec{
			HolderIdentity:       ptr.To(holder),
			LeaseDurationSeconds: ptr.To[int32](15),
			RenewTime:            &metav1.MicroTime{Time: now.Add(-renewed)},
		}}
	}
	for name, tc := range map[string]struct {
		lease       *coordinationv1.Lease
		wantHolder  string
		wantCurrent bool
	}{
		"no lease":        {},
		"current":         {lease: lease("a", 5*time.Second), wantHolder: "a", wantCurrent: true},
		"expired":         {lease: lease("a", time.Minute), wantHolder: "a"},
		"released":        {lease: lease("", time.Second)},
		"no renewal time": {lease: &coordinationv1.Lease{Spec: coordinationv1.LeaseSpec{HolderIdentity: ptr.To("a")}}, wantHolder: "a"},
	} {
		t.Run(name, func(t *testing.T) {
			holder, current := (&Snapshot{Now: now, Lease: tc.lease}).Leader()
			if holder != tc.wantHolder || current != tc.wantCurrent {
				t.Errorf("Leader() = %q, %t; want %q, %t", holder, current, tc.wantHolder, tc.wantCurrent)
			}
		})
	}
}
