// Package dashboard builds the Grafana dashboard the Helm chart ships
// (monitoring.dashboard in manifests/helm/prepuller). It is code, not a
// hand-edited JSON file, so that panels are type-checked by the Grafana
// Foundation SDK; the chart's files/dashboard.json is its output, kept
// current by a test in test/integration/install.
package dashboard

import (
	"encoding/json"
	"fmt"

	"github.com/grafana/grafana-foundation-sdk/go/bargauge"
	"github.com/grafana/grafana-foundation-sdk/go/cog"
	"github.com/grafana/grafana-foundation-sdk/go/common"
	"github.com/grafana/grafana-foundation-sdk/go/dashboard"
	"github.com/grafana/grafana-foundation-sdk/go/prometheus"
	"github.com/grafana/grafana-foundation-sdk/go/stat"
	"github.com/grafana/grafana-foundation-sdk/go/timeseries"
)

// UID is the dashboard's stable identifier: links and the Grafana sidecar
// keep finding it across chart upgrades.
const UID = "prepuller"

// sel restricts every query to the chosen namespace (the label the
// ServiceMonitor's scrape adds).
const sel = `namespace="$namespace"`

var ds = common.DataSourceRef{Type: cog.ToPtr("prometheus"), Uid: cog.ToPtr("${datasource}")}

// JSON returns the dashboard as the indented JSON Grafana imports.
func JSON() ([]byte, error) {
	d, err := build().Build()
	if err != nil {
		return nil, fmt.Errorf("building dashboard: %w", err)
	}
	out, err := json.MarshalIndent(d, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("encoding dashboard: %w", err)
	}
	return append(out, '\n'), nil
}

func build() *dashboard.DashboardBuilder {
	return dashboard.NewDashboardBuilder("prepuller").
		Uid(UID).
		Description("What prepuller learned, where it is pulled, how the webhook decides and how the puller DaemonSet is written.").
		Tags([]string{"prepuller", "jupyterhub"}).
		Refresh("1m").
		Time("now-6h", "now").
		Timezone(common.TimeZoneBrowser).
		WithVariable(dashboard.NewDatasourceVariableBuilder("datasource").Label("Data source").Type("prometheus")).
		WithVariable(dashboard.NewQueryVariableBuilder("namespace").Label("Namespace").
			Datasource(ds).
			Query(dashboard.StringOrMap{String: cog.ToPtr("label_values(prepuller_puller_syncs_total, namespace)")}).
			Refresh(dashboard.VariableRefreshOnTimeRangeChanged)).
		WithRow(dashboard.NewRowBuilder("Images")).
		WithPanel(imagesByState()).
		WithPanel(nodeShare()).
		WithPanel(inventory()).
		WithRow(dashboard.NewRowBuilder("Cold starts")).
		WithPanel(coldStarts()).
		WithPanel(firstSight()).
		WithRow(dashboard.NewRowBuilder("Admission")).
		WithPanel(decisions()).
		WithPanel(latency()).
		WithPanel(admissions()).
		WithRow(dashboard.NewRowBuilder("Puller DaemonSet")).
		WithPanel(writes()).
		WithPanel(held()).
		WithPanel(health()).
		WithRow(dashboard.NewRowBuilder("Held back and quarantined")).
		WithPanel(quarantined()).
		WithPanel(refused())
}

func query(expr, legend string) *prometheus.DataqueryBuilder {
	return prometheus.NewDataqueryBuilder().Datasource(ds).Expr(expr).LegendFormat(legend)
}

func series(title, desc, unit string, queries ...*prometheus.DataqueryBuilder) *timeseries.PanelBuilder {
	p := timeseries.NewPanelBuilder().Title(title).Description(desc).Datasource(ds).Unit(unit).Min(0).Height(8).Span(8)
	for _, q := range queries {
		p.WithTarget(q)
	}
	return p
}

func imagesByState() cog.Builder[dashboard.Panel] {
	return stat.NewPanelBuilder().Title("Learned images by state").
		Description("prepuller_puller_images: active images are pulled; held, quarantined, denied, excluded and pending ones are not.").
		Datasource(ds).Height(8).Span(8).
		ReduceOptions(common.NewReduceDataOptionsBuilder().Calcs([]string{"lastNotNull"})).
		WithTarget(query(`max by (state) (prepuller_puller_images{`+sel+`})`, "{{state}}"))
}

func nodeShare() cog.Builder[dashboard.Panel] {
	return bargauge.NewPanelBuilder().Title("Nodes holding each image").
		Description("prepuller_puller_image_node_share: share of eligible nodes whose puller pod holds the image (leader only).").
		Datasource(ds).Height(8).Span(8).Unit("percentunit").Min(0).Max(1).
		DisplayMode(common.BarGaugeDisplayModeGradient).
		Orientation(common.VizOrientationHorizontal).
		ReduceOptions(common.NewReduceDataOptionsBuilder().Calcs([]string{"lastNotNull"})).
		WithTarget(query(`max by (image) (prepuller_puller_image_node_share{`+sel+`})`, "{{image}}"))
}

func inventory() cog.Builder[dashboard.Panel] {
	return series("Nodes and images", "The node inventory: nodes known, nodes pods may be steered to, distinct images on them.", "short",
		query(`max(prepuller_inventory_nodes{`+sel+`})`, "nodes"),
		query(`max(prepuller_inventory_eligible_nodes{`+sel+`})`, "eligible nodes"),
		query(`max(prepuller_inventory_images{`+sel+`})`, "images on nodes"))
}

func coldStarts() cog.Builder[dashboard.Panel] {
	return series("Cold-start signals",
		"Admissions whose image no eligible node held (no_holder: the pod pulls on start) or whose every holder was busy with a burst of it (holders_busy: steered away, it pulls on start), against those steered to a holder.", "reqps",
		query(`sum(rate(prepuller_webhook_decisions_total{`+sel+`,reason="no_holder"}[$__rate_interval]))`, "no node held the image"),
		query(`sum(rate(prepuller_webhook_decisions_total{`+sel+`,reason="holders_busy"}[$__rate_interval]))`, "every holder busy"),
		query(`sum(rate(prepuller_webhook_decisions_total{`+sel+`,outcome="steered",reason!="holders_busy"}[$__rate_interval]))`, "steered to a holder"))
}

func firstSight() cog.Builder[dashboard.Panel] {
	return series("First sight to DaemonSet",
		"How long a new image waits from its first pod to the DaemonSet write that starts pulling it.", "s",
		query(`histogram_quantile(0.5, sum by (le) (rate(prepuller_puller_first_sight_to_daemonset_seconds_bucket{`+sel+`}[$__rate_interval])))`, "p50"),
		query(`histogram_quantile(0.95, sum by (le) (rate(prepuller_puller_first_sight_to_daemonset_seconds_bucket{`+sel+`}[$__rate_interval])))`, "p95"))
}

func decisions() cog.Builder[dashboard.Panel] {
	return series("Admission decisions", "prepuller_webhook_decisions_total by outcome and reason.", "reqps",
		query(`sum by (outcome, reason) (rate(prepuller_webhook_decisions_total{`+sel+`}[$__rate_interval])) > 0`, "{{outcome}} {{reason}}"),
		query(`sum by (reason) (rate(prepuller_webhook_malformed_requests_total{`+sel+`}[$__rate_interval])) > 0`, "malformed {{reason}}"))
}

func latency() cog.Builder[dashboard.Panel] {
	return series("Admission latency", "controller-runtime's webhook latency for prepuller's path; the API server gives up at timeoutSeconds (2s) and admits unsteered.", "s",
		query(`histogram_quantile(0.5, sum by (le) (rate(controller_runtime_webhook_latency_seconds_bucket{`+sel+`,webhook="/mutate-v1-pod"}[$__rate_interval])))`, "p50"),
		query(`histogram_quantile(0.99, sum by (le) (rate(controller_runtime_webhook_latency_seconds_bucket{`+sel+`,webhook="/mutate-v1-pod"}[$__rate_interval])))`, "p99"))
}

func admissions() cog.Builder[dashboard.Panel] {
	return series("What became of admitted pods", "prepuller_puller_admissions_total by result; confirmed pods are learned.", "reqps",
		query(`sum by (result) (rate(prepuller_puller_admissions_total{`+sel+`}[$__rate_interval]))`, "{{result}}"),
		query(`sum(prepuller_puller_admissions_pending{`+sel+`})`, "pending"))
}

func writes() cog.Builder[dashboard.Panel] {
	return series("DaemonSet writes and rollouts", "Writes of the puller DaemonSet by operation; each update rolls the puller pods.", "short",
		query(`sum by (op) (increase(prepuller_puller_daemonset_writes_total{`+sel+`}[$__rate_interval]))`, "{{op}}"),
		query(`sum(increase(prepuller_puller_state_writes_total{`+sel+`}[$__rate_interval]))`, "state saved"))
}

func held() cog.Builder[dashboard.Panel] {
	return series("Writes held", "Syncs that needed a write but held it: window (writeInterval) or rollout (the previous rollout is still going).", "short",
		query(`sum by (reason) (increase(prepuller_puller_daemonset_writes_held_total{`+sel+`}[$__rate_interval]))`, "{{reason}}"))
}

func health() cog.Builder[dashboard.Panel] {
	return series("Puller health", "Sync errors, state save errors, the install-noop failure flag, leadership and failed pull secret copies (puller.mirrorPullSecrets).", "short",
		query(`sum(increase(prepuller_puller_sync_errors_total{`+sel+`}[$__rate_interval]))`, "sync errors"),
		query(`sum(increase(prepuller_puller_state_errors_total{`+sel+`}[$__rate_interval]))`, "state not saved"),
		query(`max(prepuller_puller_install_failing{`+sel+`})`, "install failing"),
		query(`sum(leader_election_master_status{`+sel+`})`, "leaders"),
		query(`sum by (secret) (increase(prepuller_pull_secret_mirror_errors_total{`+sel+`}[$__rate_interval])) > 0`, "secret {{secret}} not copied"))
}

func quarantined() cog.Builder[dashboard.Panel] {
	return series("Quarantined and held images", "Images kept out of the DaemonSet: quarantined (their pulls fail), held, denied by policy.", "short",
		query(`max by (state) (prepuller_puller_images{`+sel+`,state=~"quarantined|held|denied"})`, "{{state}}"))
}

func refused() cog.Builder[dashboard.Panel] {
	return series("Images refused", "prepuller_puller_images_refused_total by reason (pod_limit, user_share, in_use).", "short",
		query(`sum by (reason) (increase(prepuller_puller_images_refused_total{`+sel+`}[$__rate_interval]))`, "{{reason}}"))
}
