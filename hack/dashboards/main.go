// Command dashboards writes IronLB's Grafana dashboards, built as typed Go
// with grafana-foundation-sdk, to charts/ironlb/dashboards (`make
// dashboards`; `make verify` fails when the files are stale). test/dashboards
// checks every query against the metrics the code registers.
package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/grafana/grafana-foundation-sdk/go/cog"
	"github.com/grafana/grafana-foundation-sdk/go/common"
	"github.com/grafana/grafana-foundation-sdk/go/dashboard"
	"github.com/grafana/grafana-foundation-sdk/go/prometheus"
)

func main() {
	out := flag.String("out", "charts/ironlb/dashboards", "directory to write the dashboards to")
	flag.Parse()
	for file, b := range map[string]*dashboard.DashboardBuilder{
		"ironlb-failover-timing.json": failoverTiming(),
		"ironlb-overview.json":        overview(),
	} {
		if err := write(filepath.Join(*out, file), b); err != nil {
			fmt.Fprintln(os.Stderr, "dashboards:", err)
			os.Exit(1)
		}
	}
}

func write(path string, b *dashboard.DashboardBuilder) error {
	d, err := b.Build()
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	// Stable panel ids, in order, so links to a panel (viewPanel=N) hold.
	for i := range d.Panels {
		id := uint32(i + 1)
		if p := d.Panels[i].Panel; p != nil {
			p.Id = &id
		} else if r := d.Panels[i].RowPanel; r != nil {
			r.Id = id
		}
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false) // PromQL's > and < stay readable
	enc.SetIndent("", "  ")
	if err := enc.Encode(d); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	// The SDK's own marshallers escape <, > and & in strings; in JSON
	// both spellings are the same string.
	out := strings.NewReplacer(`\u003c`, "<", `\u003e`, ">", `\u0026`, "&").Replace(buf.String())
	return os.WriteFile(path, []byte(out), 0o644)
}

// datasource is the dashboard's Prometheus, chosen with the datasource
// variable (Grafana's convention for shared dashboards).
var datasource = common.DataSourceRef{Type: cog.ToPtr("prometheus"), Uid: cog.ToPtr("${datasource}")}

// newDashboard has what both dashboards share: the datasource variable,
// tags, a short default range (failovers are sub-second events).
func newDashboard(uid, title, description string) *dashboard.DashboardBuilder {
	return dashboard.NewDashboardBuilder(title).
		Uid(uid).
		Description(description).
		Tags([]string{"ironlb", "metallb", "load-balancer"}).
		Readonly().
		Tooltip(dashboard.DashboardCursorSyncCrosshair).
		Refresh("30s").
		Time("now-1h", "now").
		Timezone("browser").
		WithVariable(dashboard.NewDatasourceVariableBuilder("datasource").
			Label("Data source").
			Type("prometheus"))
}

// query is one PromQL target. legend "" leaves Grafana's default.
func query(expr, legend string) *prometheus.DataqueryBuilder {
	q := prometheus.NewDataqueryBuilder().Expr(expr).Datasource(datasource).Range()
	if legend != "" {
		q = q.LegendFormat(legend)
	}
	return q
}

// tableQuery is an instant query formatted as a table.
func tableQuery(expr string) *prometheus.DataqueryBuilder {
	return prometheus.NewDataqueryBuilder().Expr(expr).Datasource(datasource).Instant().
		Format(prometheus.PromQueryFormatTable)
}
