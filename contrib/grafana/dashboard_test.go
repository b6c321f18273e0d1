package main

import (
	"context"
	"encoding/json"
	"image/png"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	zgprom "github.com/zmqguard/zmqguard/contrib/prometheus"
)

// exported returns the names zgprom's metrics describe.
func exported(t *testing.T) map[string]bool {
	m, err := zgprom.New()
	require.NoError(t, err)
	ch := make(chan *prometheus.Desc, 256)
	m.Describe(ch)
	close(ch)
	names := map[string]bool{}
	fq := regexp.MustCompile(`fqName: "([^"]+)"`)
	for d := range ch {
		names[fq.FindStringSubmatch(d.String())[1]] = true
	}
	return names
}

// TestDashboardQueriesExportedNames: every metric the dashboard queries
// is one zgprom exports and docs/OBSERVABILITY.md documents, and every
// exported one is documented and on the dashboard.
func TestDashboardQueriesExportedNames(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join("..", "..", "docs", "grafana-dashboard.json"))
	require.NoError(t, err)
	var dash struct {
		Panels []struct {
			Title   string
			Targets []struct{ Expr string }
		}
	}
	require.NoError(t, json.Unmarshal(raw, &dash))
	doc, err := os.ReadFile(filepath.Join("..", "..", "docs", "OBSERVABILITY.md"))
	require.NoError(t, err)
	names := exported(t)
	queried := map[string]bool{}
	metric := regexp.MustCompile(`zmqguard_[a-z_]+`)
	for _, p := range dash.Panels {
		require.NotEmpty(t, p.Targets, p.Title)
		for _, tg := range p.Targets {
			for _, n := range metric.FindAllString(tg.Expr, -1) {
				base := n
				if strings.HasSuffix(n, "_bucket") || strings.HasSuffix(n, "_count") {
					base = n[:strings.LastIndex(n, "_")]
				}
				assert.True(t, names[base], "panel %q queries %s, which zgprom does not export", p.Title, n)
				queried[base] = true
			}
		}
	}
	for n := range names {
		assert.Contains(t, string(doc), "`"+n+"`", "docs/OBSERVABILITY.md documents %s", n)
		assert.True(t, queried[n], "the dashboard shows %s", n)
	}
}

// TestPanelsFromARealRun: a short run scrapes real metrics and draws
// every panel with data.
func TestPanelsFromARealRun(t *testing.T) {
	defer func(w time.Duration) { window = w }(window)
	window = time.Second
	l, err := startLoad()
	require.NoError(t, err)
	samples, err := scrapeWhile(context.Background(), l, 3*time.Second, 250*time.Millisecond)
	l.stop()
	require.NoError(t, err)
	for _, p := range panels(samples) {
		points := 0
		for _, ln := range p.lines {
			points += len(ln.xys)
		}
		assert.Positive(t, points, "panel %q has data", p.title)
	}
	out := filepath.Join(t.TempDir(), "dashboard.png")
	require.NoError(t, plotPanels(samples, out))
	f, err := os.Open(out)
	require.NoError(t, err)
	defer f.Close()
	img, err := png.Decode(f)
	require.NoError(t, err)
	assert.Greater(t, img.Bounds().Dx(), 1000)
}
