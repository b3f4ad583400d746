package inventory

import (
	"github.com/prometheus/client_golang/prometheus"
	"sigs.k8s.io/controller-runtime/pkg/metrics"
)

var (
	nodesGauge = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "prepuller_inventory_nodes",
		Help: "Nodes known to the node inventory.",
	})
	eligibleGauge = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "prepuller_inventory_eligible_nodes",
		Help: "Nodes pods may be steered to (selected, schedulable, Ready, with a hostname label).",
	})
	imagesGauge = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "prepuller_inventory_images",
		Help: "Distinct normalized images held by at least one node.",
	})
)

func init() {
	metrics.Registry.MustRegister(nodesGauge, eligibleGauge, imagesGauge)
}

// recordSizes publishes the inventory's size; called with inv.mu held.
func recordSizes(inv *Inventory) {
	nodesGauge.Set(float64(inv.seenCount))
	eligibleGauge.Set(float64(inv.eligibleCount))
	imagesGauge.Set(float64(len(inv.images)))
}
