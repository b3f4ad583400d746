package faults

import (
	"context"
	"sync"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
)

// writes counts the changes the API server reports to prepuller's
// DaemonSet and state ConfigMap, from watches that re-open whenever the API
// server ends them (it restarts in some faults).
type writes struct {
	mu sync.Mutex
	at map[string][]time.Time // object kind -> times of its changes
}

func watchWrites(ctx context.Context, cs *kubernetes.Clientset, ns, dsName, cmName string) *writes {
	w := &writes{at: map[string][]time.Time{}}
	open := map[string]func(rv string) (watch.Interface, error){
		"daemonset": func(rv string) (watch.Interface, error) {
			return cs.AppsV1().DaemonSets(ns).Watch(ctx, metav1.ListOptions{FieldSelector: "metadata.name=" + dsName, ResourceVersion: rv})
		},
		"configmap": func(rv string) (watch.Interface, error) {
			return cs.CoreV1().ConfigMaps(ns).Watch(ctx, metav1.ListOptions{FieldSelector: "metadata.name=" + cmName, ResourceVersion: rv})
		},
	}
	for kind, openWatch := range open {
		go func() {
			rv := ""
			for ctx.Err() == nil {
				wi, err := openWatch(rv)
				if err != nil {
					time.Sleep(200 * time.Millisecond)
					continue
				}
				for ev := range wi.ResultChan() {
					if ev.Type == watch.Error {
						rv = "" // too old: start again from now, counting nothing twice
						break
					}
					if m, ok := ev.Object.(metav1.Object); ok {
						if rv != "" || ev.Type != watch.Added {
							w.record(kind)
						}
						rv = m.GetResourceVersion()
					}
				}
				wi.Stop()
			}
		}()
	}
	return w
}

func (w *writes) record(kind string) {
	w.mu.Lock()
	w.at[kind] = append(w.at[kind], time.Now())
	w.mu.Unlock()
}

// count is the number of changes of kind between two instants.
func (w *writes) count(kind string, from, to time.Time) int {
	w.mu.Lock()
	defer w.mu.Unlock()
	n := 0
	for _, t := range w.at[kind] {
		if !t.Before(from) && t.Before(to) {
			n++
		}
	}
	return n
}
