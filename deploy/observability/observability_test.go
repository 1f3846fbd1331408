package observability

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/rulefmt"
	"github.com/prometheus/prometheus/promql/parser"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/catering-match/catering-match/state"
	"github.com/catering-match/catering-match/topics"
)

const (
	rulesFile     = "catering-match-alerts.yaml"
	dashboardFile = "catering-match-dashboard.json"

	// datasourceUID is what every panel and target names: the dashboard's
	// datasource variable, so that it works imported and provisioned.
	datasourceUID = "${DS_PROMETHEUS}"
)

// targetLabels are the labels Prometheus attaches to every scraped series
// (job, instance) or that the usual Kubernetes scrape job adds (namespace):
// selectors may match on them, but /metrics never has them.
var targetLabels = map[string]bool{"job": true, "instance": true, "namespace": true}

var severities = map[string]bool{"critical": true, "warning": true, "info": true}

var promQL = parser.NewParser(parser.Options{})

// query is one PromQL expression of the rules or the dashboard, with where
// it comes from for the failure messages.
type query struct {
	where string
	expr  string
}

func loadRules(t *testing.T) *rulefmt.RuleGroups {
	t.Helper()
	groups, errs := rulefmt.ParseFile(rulesFile, false, model.LegacyValidation, promQL, slog.New(slog.DiscardHandler))
	for _, err := range errs {
		t.Error(err)
	}
	if len(errs) > 0 {
		t.FailNow()
	}
	if len(groups.Groups) == 0 {
		t.Fatalf("%s: no rule groups", rulesFile)
	}
	return groups
}

// TestRulesParse parses the rule file as Prometheus does when it loads it:
// unknown fields, bad durations, invalid PromQL and invalid templates in
// the annotations are errors.
func TestRulesParse(t *testing.T) {
	groups := loadRules(t)
	n := 0
	for _, g := range groups.Groups {
		n += len(g.Rules)
	}
	t.Logf("%d groups, %d rules", len(groups.Groups), n)
}

// TestEveryAlertIsComplete checks what an on-call engineer needs from each
// alert: a for duration (no firing on one bad scrape), a severity to route
// on, and a summary, a description and a first step.
func TestEveryAlertIsComplete(t *testing.T) {
	seen := map[string]bool{}
	for _, g := range loadRules(t).Groups {
		for _, r := range g.Rules {
			if r.Alert == "" {
				t.Errorf("group %s: recording rule %s: this file holds alerts only", g.Name, r.Record)
				continue
			}
			if seen[r.Alert] {
				t.Errorf("alert %s: defined twice", r.Alert)
			}
			seen[r.Alert] = true
			if !strings.HasPrefix(r.Alert, "CateringMatch") {
				t.Errorf("alert %s: name it CateringMatch..., so that it is found among others", r.Alert)
			}
			if r.For <= 0 {
				t.Errorf("alert %s: no for: duration", r.Alert)
			}
			if s := r.Labels["severity"]; !severities[s] {
				t.Errorf("alert %s: severity %q; want critical, warning or info", r.Alert, s)
			}
			for _, a := range []string{"summary", "description", "runbook"} {
				if strings.TrimSpace(r.Annotations[a]) == "" {
					t.Errorf("alert %s: no %s annotation", r.Alert, a)
				}
			}
		}
	}
}

// dashboard is the part of Grafana's dashboard model the checks read.
type dashboard struct {
	UID        string  `json:"uid"`
	Title      string  `json:"title"`
	Panels     []panel `json:"panels"`
	Templating struct {
		List []variable `json:"list"`
	} `json:"templating"`
}

type panel struct {
	ID          int         `json:"id"`
	Type        string      `json:"type"`
	Title       string      `json:"title"`
	Collapsed   bool        `json:"collapsed"`
	Datasource  *datasource `json:"datasource"`
	Targets     []target    `json:"targets"`
	Panels      []panel     `json:"panels"` // a collapsed row's
	FieldConfig struct {
		Defaults struct {
			Unit string `json:"unit"`
		} `json:"defaults"`
	} `json:"fieldConfig"`
	GridPos struct {
		X, Y, W, H int
	} `json:"gridPos"`
}

type target struct {
	RefID      string      `json:"refId"`
	Expr       string      `json:"expr"`
	Datasource *datasource `json:"datasource"`
}

type datasource struct {
	Type string `json:"type"`
	UID  string `json:"uid"`
}

type variable struct {
	Name       string          `json:"name"`
	Type       string          `json:"type"`
	Query      json.RawMessage `json:"query"`
	Datasource *datasource     `json:"datasource"`
}

// queryString returns a variable's query, a string or Grafana's newer
// {"query": "..."} object.
func (v variable) queryString() (string, error) {
	var s string
	if err := json.Unmarshal(v.Query, &s); err == nil {
		return s, nil
	}
	var o struct {
		Query string `json:"query"`
	}
	if err := json.Unmarshal(v.Query, &o); err != nil {
		return "", fmt.Errorf("variable %s: query is neither a string nor an object: %w", v.Name, err)
	}
	return o.Query, nil
}

func loadDashboard(t *testing.T) *dashboard {
	t.Helper()
	b, err := os.ReadFile(dashboardFile)
	if err != nil {
		t.Fatal(err)
	}
	var d dashboard
	dec := json.NewDecoder(bytes.NewReader(b))
	if err := dec.Decode(&d); err != nil {
		t.Fatalf("%s: %v", dashboardFile, err)
	}
	if dec.More() {
		t.Fatalf("%s: more than one JSON value", dashboardFile)
	}
	return &d
}

// allPanels returns every panel, those of collapsed rows included, rows not.
func (d *dashboard) allPanels() []panel {
	var out []panel
	var walk func([]panel)
	walk = func(ps []panel) {
		for _, p := range ps {
			if p.Type == "row" {
				walk(p.Panels)
				continue
			}
			out = append(out, p)
		}
	}
	walk(d.Panels)
	return out
}

// TestDashboard checks that the dashboard decodes, and that every panel
// queries the dashboard's datasource variable, has a unit and fits the grid.
func TestDashboard(t *testing.T) {
	d := loadDashboard(t)
	if d.UID == "" || d.Title == "" {
		t.Errorf("uid %q, title %q: both are needed for a stable import", d.UID, d.Title)
	}
	var dsVar bool
	for _, v := range d.Templating.List {
		if v.Type == "datasource" && "${"+v.Name+"}" == datasourceUID {
			var q string
			dsVar = json.Unmarshal(v.Query, &q) == nil && q == "prometheus"
		}
		if v.Type == "query" && (v.Datasource == nil || v.Datasource.UID != datasourceUID) {
			t.Errorf("variable %s: datasource %+v; want uid %s", v.Name, v.Datasource, datasourceUID)
		}
	}
	if !dsVar {
		t.Errorf("no datasource variable of type prometheus named by %s", datasourceUID)
	}
	panels := d.allPanels()
	if len(panels) == 0 {
		t.Fatal("no panels")
	}
	ids := map[int]bool{}
	for _, p := range panels {
		name := fmt.Sprintf("panel %d %q", p.ID, p.Title)
		if ids[p.ID] {
			t.Errorf("%s: id used twice", name)
		}
		ids[p.ID] = true
		if p.Title == "" {
			t.Errorf("%s: no title", name)
		}
		if len(p.Targets) == 0 {
			t.Errorf("%s: no targets", name)
		}
		for _, tg := range p.Targets {
			ds := tg.Datasource
			if ds == nil {
				ds = p.Datasource
			}
			if ds == nil || ds.UID != datasourceUID || ds.Type != "prometheus" {
				t.Errorf("%s target %s: datasource %+v; want prometheus %s", name, tg.RefID, ds, datasourceUID)
			}
			if strings.TrimSpace(tg.Expr) == "" {
				t.Errorf("%s target %s: no expr", name, tg.RefID)
			}
		}
		if p.FieldConfig.Defaults.Unit == "" {
			t.Errorf("%s: no unit", name)
		}
		if g := p.GridPos; g.W <= 0 || g.H <= 0 || g.X < 0 || g.X+g.W > 24 {
			t.Errorf("%s: gridPos %+v outside Grafana's 24 columns", name, g)
		}
	}
}

// grafanaVar is a Grafana variable reference: $name, ${name} or ${name:format}.
var grafanaVar = regexp.MustCompile(`\$(?:\{(\w+)(?::\w+)?\}|(\w+))`)

// grafanaBuiltins are the values Grafana's own variables get here.
var grafanaBuiltins = map[string]string{
	"__rate_interval": "5m", "__interval": "1m", "__range": "6h",
	"__interval_ms": "60000", "__range_ms": "21600000", "__range_s": "21600",
}

// expand replaces the Grafana variables of expr with concrete values: the
// built-in intervals, and ".*" (what "All" sends) for the dashboard's own.
func expand(expr string, vars map[string]bool) (string, error) {
	var err error
	out := grafanaVar.ReplaceAllStringFunc(expr, func(m string) string {
		sub := grafanaVar.FindStringSubmatch(m)
		name := sub[1] + sub[2]
		if v, ok := grafanaBuiltins[name]; ok {
			return v
		}
		if vars[name] {
			return ".*"
		}
		err = errors.Join(err, fmt.Errorf("unknown variable $%s", name))
		return m
	})
	return out, err
}

// labelValues matches a variable query label_values(selector, label).
var labelValues = regexp.MustCompile(`^\s*label_values\(\s*(?:(.+?)\s*,\s*)?(\w+)\s*\)\s*$`)

// dashboardQueries returns every PromQL expression of the dashboard, with
// its variables expanded: the targets' and the selectors of the variables'
// label_values queries.
func dashboardQueries(t *testing.T) []query {
	t.Helper()
	d := loadDashboard(t)
	vars := map[string]bool{}
	for _, v := range d.Templating.List {
		vars[v.Name] = true
	}
	var out []query
	add := func(where, expr string) {
		e, err := expand(expr, vars)
		if err != nil {
			t.Errorf("%s: %v", where, err)
			return
		}
		out = append(out, query{where: where, expr: e})
	}
	for _, v := range d.Templating.List {
		if v.Type != "query" {
			continue
		}
		q, err := v.queryString()
		if err != nil {
			t.Error(err)
			continue
		}
		m := labelValues.FindStringSubmatch(q)
		if m == nil {
			t.Errorf("variable %s: query %q: want label_values(selector, label)", v.Name, q)
			continue
		}
		if m[1] != "" {
			add("variable "+v.Name, m[1])
		}
	}
	for _, p := range d.allPanels() {
		for _, tg := range p.Targets {
			add(fmt.Sprintf("panel %q target %s", p.Title, tg.RefID), tg.Expr)
		}
	}
	return out
}

func ruleQueries(t *testing.T) []query {
	t.Helper()
	var out []query
	for _, g := range loadRules(t).Groups {
		for _, r := range g.Rules {
			out = append(out, query{where: "alert " + r.Alert, expr: r.Expr})
		}
	}
	return out
}

// selector is one vector selector of a query: the metric it names and its
// label matchers but the name.
type selector struct {
	where    string
	text     string
	metric   string
	matchers []*labels.Matcher
}

// selectors parses each query with Prometheus' parser and returns its
// vector selectors (those of range vectors and subqueries included).
func selectors(t *testing.T, qs []query) []selector {
	t.Helper()
	var out []selector
	for _, q := range qs {
		expr, err := promQL.ParseExpr(q.expr)
		if err != nil {
			t.Errorf("%s: %q: %v", q.where, q.expr, err)
			continue
		}
		parser.Inspect(expr, func(n parser.Node, _ []parser.Node) error {
			vs, ok := n.(*parser.VectorSelector)
			if !ok {
				return nil
			}
			s := selector{where: q.where, text: vs.String(), metric: vs.Name}
			for _, m := range vs.LabelMatchers {
				if m.Name == model.MetricNameLabel {
					if m.Type == labels.MatchEqual {
						s.metric = m.Value
					}
					continue
				}
				s.matchers = append(s.matchers, m)
			}
			if s.metric == "" {
				t.Errorf("%s: selector %s names no metric", q.where, s.text)
				return nil
			}
			out = append(out, s)
			return nil
		})
	}
	return out
}

// series is one series of the exposition, by the name PromQL selects it with.
type series struct {
	name   string
	labels map[string]string
}

// exposedSeries returns the series of a text exposition under their PromQL
// names: a histogram x is x_bucket (with le), x_sum and x_count; a summary
// x is x (with quantile), x_sum and x_count.
func exposedSeries(fams map[string]*dto.MetricFamily) map[string][]series {
	out := map[string][]series{}
	for name, f := range fams {
		for _, m := range f.GetMetric() {
			ls := map[string]string{}
			for _, lp := range m.GetLabel() {
				ls[lp.GetName()] = lp.GetValue()
			}
			add := func(n string) { out[n] = append(out[n], series{name: n, labels: ls}) }
			switch f.GetType() {
			case dto.MetricType_HISTOGRAM, dto.MetricType_GAUGE_HISTOGRAM:
				add(name + "_bucket")
				add(name + "_sum")
				add(name + "_count")
			case dto.MetricType_SUMMARY:
				add(name)
				add(name + "_sum")
				add(name + "_count")
			default:
				add(name)
			}
		}
	}
	return out
}

// missing returns what the selectors select that the exposition does not
// have: a metric it lacks, or matchers (other than on target labels and
// le/quantile) that no series of the metric satisfies.
func missing(sels []selector, exposed map[string][]series) []string {
	var out []string
	for _, s := range sels {
		ss, ok := exposed[s.metric]
		if !ok {
			out = append(out, fmt.Sprintf("%s: metric %s is not in /metrics", s.where, s.metric))
			continue
		}
		match := slices.ContainsFunc(ss, func(sr series) bool {
			for _, m := range s.matchers {
				if targetLabels[m.Name] || m.Name == "le" || m.Name == "quantile" {
					continue
				}
				if !m.Matches(sr.labels[m.Name]) {
					return false
				}
			}
			return true
		})
		if !match {
			out = append(out, fmt.Sprintf("%s: %s selects no series of /metrics", s.where, s.text))
		}
	}
	sort.Strings(out)
	return slices.Compact(out)
}

// TestEveryMetricIsExported runs the binary on its embedded broker, makes
// it match an order and dead-letter a record, and checks that every metric
// the alerts and the dashboard select is in its /metrics, with the labels
// they match on.
func TestEveryMetricIsExported(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	sels := selectors(t, append(ruleQueries(t), dashboardQueries(t)...))
	if t.Failed() {
		t.FailNow()
	}
	metrics := map[string]bool{}
	for _, s := range sels {
		metrics[s.metric] = true
	}
	t.Logf("%d selectors of %d metrics", len(sels), len(metrics))

	inst := start(t)
	inst.publish(t)

	var miss []string
	began := time.Now()
	deadline := began.Add(60 * time.Second)
	for {
		fams, err := inst.scrape()
		if err != nil {
			t.Fatalf("scrape /metrics: %v", err)
		}
		if miss = missing(sels, exposedSeries(fams)); len(miss) == 0 || time.Now().After(deadline) {
			break
		}
		if err := inst.sleep(500 * time.Millisecond); err != nil {
			t.Fatal(err)
		}
	}
	if len(miss) == 0 {
		t.Logf("every selected series in /metrics after %v", time.Since(began).Round(time.Millisecond))
	} else {
		t.Errorf("%d selectors find nothing in the /metrics of the running binary:\n  %s\n\nlog:\n%s",
			len(miss), strings.Join(miss, "\n  "), inst.stderr.String())
	}
	inst.stop(t)
}

// instance is the running binary.
type instance struct {
	cmd     *exec.Cmd
	done    chan error
	stderr  *syncBuffer
	broker  string // embedded broker host:port
	httpURL string
}

// syncBuffer is the binary's stderr, written by exec's copying goroutine
// and read by the test.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// start builds cmd/catering-match and runs it on its embedded broker until
// it is ready.
func start(t *testing.T) *instance {
	t.Helper()
	dir := t.TempDir()
	bin := filepath.Join(dir, "catering-match")
	build := exec.CommandContext(t.Context(), "go", "build", "-o", bin, "github.com/catering-match/catering-match/cmd/catering-match")
	began := time.Now()
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build cmd/catering-match: %v\n%s", err, out)
	}
	t.Logf("built cmd/catering-match in %v", time.Since(began).Round(time.Millisecond))
	brokerPort := fixedPort(t)
	httpAddr := net.JoinHostPort("127.0.0.1", strconv.Itoa(freePort(t)))
	inst := &instance{
		stderr:  &syncBuffer{},
		done:    make(chan error, 1),
		broker:  net.JoinHostPort("127.0.0.1", strconv.Itoa(brokerPort)),
		httpURL: "http://" + httpAddr,
	}
	inst.cmd = exec.Command(bin,
		"--embedded-port", strconv.Itoa(brokerPort),
		"--data-dir", filepath.Join(dir, "data"),
		"--http-addr", httpAddr,
		"--instance-id", "observability-test",
	)
	inst.cmd.Env = cleanEnv()
	inst.cmd.Stdout, inst.cmd.Stderr = inst.stderr, inst.stderr
	if err := inst.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { inst.done <- inst.cmd.Wait() }()
	t.Cleanup(func() {
		select {
		case <-inst.done:
		default:
			_ = inst.cmd.Process.Kill()
			<-inst.done
		}
	})

	began = time.Now()
	deadline := began.Add(90 * time.Second)
	for inst.status("/readyz") != http.StatusOK {
		if time.Now().After(deadline) {
			t.Fatalf("/readyz not 200 after 90s:\n%s", inst.stderr.String())
		}
		if err := inst.sleep(200 * time.Millisecond); err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("ready after %v", time.Since(began).Round(time.Millisecond))
	return inst
}

// cleanEnv is the test's environment without the binary's own variables,
// so that a developer's CATERING_BROKERS does not point it elsewhere.
func cleanEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "CATERING_") {
			env = append(env, kv)
		}
	}
	return env
}

// sleep waits d, or returns an error if the binary exits meanwhile.
func (i *instance) sleep(d time.Duration) error {
	select {
	case err := <-i.done:
		i.done <- err
		return fmt.Errorf("catering-match exited (%v):\n%s", err, i.stderr.String())
	case <-time.After(d):
		return nil
	}
}

func (i *instance) status(path string) int {
	cl := http.Client{Timeout: 2 * time.Second}
	resp, err := cl.Get(i.httpURL + path)
	if err != nil {
		return 0
	}
	resp.Body.Close()
	return resp.StatusCode
}

// publish writes a matching pair of confirmations, so that a command is
// issued and a match observed, and a malformed record, so that a dead
// letter has a series. Both land on partitions that then have a lag series.
func (i *instance) publish(t *testing.T) {
	t.Helper()
	names := topics.DefaultNames()
	cl, err := kgo.NewClient(kgo.SeedBrokers(i.broker), kgo.DefaultProduceTopic(names.Events))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	event := func(id, typ string) *kgo.Record {
		v, err := json.Marshal(topics.Event{ID: id, Type: typ, OrderID: "obs-1", MenuID: "menu-a"})
		if err != nil {
			t.Fatal(err)
		}
		return &kgo.Record{Key: []byte("obs-1"), Value: v}
	}
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	if err := cl.ProduceSync(ctx,
		event("obs-1-customer", state.CustomerConfirmedMenu),
		event("obs-1-caterer", state.CatererConfirmedMenu),
		&kgo.Record{Key: []byte("obs-2"), Value: []byte("not json")},
	).FirstErr(); err != nil {
		t.Fatalf("produce to %s: %v", names.Events, err)
	}
}

func (i *instance) scrape() (map[string]*dto.MetricFamily, error) {
	req, err := http.NewRequest(http.MethodGet, i.httpURL+"/metrics", nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", string(expfmt.NewFormat(expfmt.TypeTextPlain)))
	cl := http.Client{Timeout: 5 * time.Second}
	resp, err := cl.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		return nil, fmt.Errorf("%s: %s", resp.Status, b)
	}
	p := expfmt.NewTextParser(model.LegacyValidation)
	return p.TextToMetricFamilies(resp.Body)
}

// stop sends SIGTERM and expects a clean exit.
func (i *instance) stop(t *testing.T) {
	t.Helper()
	if err := i.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-i.done:
		i.done <- err
		if err != nil {
			t.Errorf("after SIGTERM: %v\n%s", err, i.stderr.String())
		}
	case <-time.After(60 * time.Second):
		t.Errorf("still running 60s after SIGTERM:\n%s", i.stderr.String())
	}
}

// freePort returns a port the kernel just gave out, for the ops endpoints.
func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// fixedPort returns a free port below Linux's ephemeral range (32768 and
// up) for the embedded broker: the binary's own outgoing connections take
// ephemeral ports, and one could take the broker's between this check and
// the broker's listen.
func fixedPort(t *testing.T) int {
	t.Helper()
	for range 100 {
		p := 20000 + rand.IntN(32768-20000)
		ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(p)))
		if err == nil {
			ln.Close()
			return p
		}
	}
	t.Fatal("no free port in 20000-32767")
	return 0
}
