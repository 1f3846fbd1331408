package ops

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"

	"github.com/catering-match/catering-match/internal/catering"
	"github.com/catering-match/catering-match/processor"
)

// fakeSource answers from fixed values and records what it was asked.
type fakeSource struct {
	ready  bool
	held   []int32
	views  map[string]catering.ProcessView
	list   []catering.ProcessView
	err    error
	mu     sync.Mutex
	filter catering.Filter
	hadDL  time.Duration // time left before the context's deadline, when asked
}

func (f *fakeSource) Ready() bool { return f.ready }

func (f *fakeSource) Held() []int32 { return f.held }

func (f *fakeSource) noteDeadline(ctx context.Context) {
	if dl, ok := ctx.Deadline(); ok {
		f.mu.Lock()
		f.hadDL = time.Until(dl)
		f.mu.Unlock()
	}
}

func (f *fakeSource) Order(ctx context.Context, id string) (catering.ProcessView, bool, error) {
	f.noteDeadline(ctx)
	if f.err != nil {
		return catering.ProcessView{}, false, f.err
	}
	v, ok := f.views[id]
	return v, ok, nil
}

func (f *fakeSource) Orders(ctx context.Context, fl catering.Filter) ([]catering.ProcessView, error) {
	f.noteDeadline(ctx)
	f.mu.Lock()
	f.filter = fl
	f.mu.Unlock()
	return f.list, f.err
}

var t0 = time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)

func pendingView(id string) catering.ProcessView {
	dl := t0.Add(24 * time.Hour)
	return catering.ProcessView{
		OrderID: id, Status: "pending", StartedAt: t0, Deadline: &dl,
		Menus:   []catering.MenuView{{MenuID: "menu-a", Customer: true, Caterer: "none"}},
		Missing: []string{"caterer"},
		History: []catering.EntryView{{ID: "e1", Type: "CustomerConfirmedMenu", MenuID: "menu-a", At: t0}},
		Source:  "memory", Partition: 2,
	}
}

// logRecorder keeps the records logged at warn and above.
type logRecorder struct {
	mu    sync.Mutex
	warns []string
}

func (l *logRecorder) Enabled(_ context.Context, lv slog.Level) bool { return true }
func (l *logRecorder) Handle(_ context.Context, r slog.Record) error {
	if r.Level >= slog.LevelWarn {
		l.mu.Lock()
		l.warns = append(l.warns, r.Message)
		l.mu.Unlock()
	}
	return nil
}
func (l *logRecorder) WithAttrs([]slog.Attr) slog.Handler { return l }
func (l *logRecorder) WithGroup(string) slog.Handler      { return l }

type response struct {
	status int
	header http.Header
	body   string
}

func get(t *testing.T, h http.Handler, target string) response {
	t.Helper()
	return do(t, h, http.MethodGet, target)
}

func do(t *testing.T, h http.Handler, method, target string) response {
	t.Helper()
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest(method, target, nil))
	res := w.Result()
	b, err := io.ReadAll(res.Body)
	require.NoError(t, err)
	return response{status: res.StatusCode, header: res.Header, body: string(b)}
}

func decode[T any](t *testing.T, r response) T {
	t.Helper()
	require.Equal(t, "application/json", r.header.Get("Content-Type"))
	var v T
	dec := json.NewDecoder(strings.NewReader(r.body))
	dec.DisallowUnknownFields()
	require.NoError(t, dec.Decode(&v), "body: %s", r.body)
	return v
}

func errorOf(t *testing.T, r response) string {
	t.Helper()
	return decode[struct {
		Error string `json:"error"`
	}](t, r).Error
}

func TestProbes(t *testing.T) {
	src := &fakeSource{}
	h := Handler(src, prometheus.NewRegistry(), slog.New(&logRecorder{}))

	r := get(t, h, "/healthz")
	require.Equal(t, http.StatusOK, r.status)
	require.Equal(t, "ok\n", r.body)

	r = get(t, h, "/readyz")
	require.Equal(t, http.StatusServiceUnavailable, r.status)
	require.Equal(t, "not ready: joining the group or restoring partitions\npartitions held: none\n", r.body)

	src.ready, src.held = true, []int32{0, 2, 4}
	r = get(t, h, "/readyz")
	require.Equal(t, http.StatusOK, r.status)
	require.Equal(t, "ready\npartitions held: 0,2,4\n", r.body)

	// Kubernetes probes may use HEAD; other methods are refused.
	require.Equal(t, http.StatusOK, do(t, h, http.MethodHead, "/healthz").status)
	require.Equal(t, http.StatusMethodNotAllowed, do(t, h, http.MethodPost, "/healthz").status)
}

func TestMetrics(t *testing.T) {
	reg := prometheus.NewRegistry()
	c := prometheus.NewCounter(prometheus.CounterOpts{Name: "ops_test_requests_total", Help: "A test counter."})
	reg.MustRegister(c)
	c.Add(3)
	h := Handler(&fakeSource{}, reg, slog.New(&logRecorder{}))

	r := get(t, h, "/metrics")
	require.Equal(t, http.StatusOK, r.status)
	require.Contains(t, r.header.Get("Content-Type"), "text/plain")
	require.Contains(t, r.body, "# HELP ops_test_requests_total A test counter.\n")
	require.Contains(t, r.body, "\nops_test_requests_total 3\n")
}

func TestOrder(t *testing.T) {
	v := pendingView("42")
	src := &fakeSource{views: map[string]catering.ProcessView{"42": v}}
	logs := &logRecorder{}
	h := Handler(src, prometheus.NewRegistry(), slog.New(logs))

	r := get(t, h, "/orders/42")
	require.Equal(t, http.StatusOK, r.status)
	require.Equal(t, v, decode[catering.ProcessView](t, r))
	require.InDelta(t, 30*time.Second, src.hadDL, float64(time.Second), "the query gets a 30 s timeout")

	// The wire names operators and scripts rely on.
	var raw map[string]any
	require.NoError(t, json.Unmarshal([]byte(r.body), &raw))
	for _, k := range []string{"order_id", "status", "menus", "started_at", "deadline", "missing", "history", "partition", "source"} {
		require.Contains(t, raw, k)
	}

	r = get(t, h, "/orders/43")
	require.Equal(t, http.StatusNotFound, r.status)
	require.Equal(t, "order 43 has no process (never seen, or forgotten after retention)", errorOf(t, r))

	r = get(t, h, "/orders/"+strings.Repeat("x", 129))
	require.Equal(t, http.StatusBadRequest, r.status)
	require.Contains(t, errorOf(t, r), "at most 128")
	require.Empty(t, logs.warns, "answers to the client's mistakes are not warnings")

	src.err = fmt.Errorf("query: %w", processor.ErrNotRunning)
	r = get(t, h, "/orders/42")
	require.Equal(t, http.StatusServiceUnavailable, r.status)
	require.Contains(t, errorOf(t, r), "not running")
	require.Empty(t, logs.warns, "the processor logs why it is not running")

	src.err = errors.New("fetch changelog: broker gone")
	r = get(t, h, "/orders/42")
	require.Equal(t, http.StatusInternalServerError, r.status)
	require.Contains(t, errorOf(t, r), "broker gone")
	require.Equal(t, []string{"ops query failed"}, logs.warns, "a failure is logged once")
}

func TestOrders(t *testing.T) {
	a, b := pendingView("1"), pendingView("2")
	b.StartedAt = t0.Add(time.Minute)
	src := &fakeSource{list: []catering.ProcessView{a, b}}
	logs := &logRecorder{}
	h := Handler(src, prometheus.NewRegistry(), slog.New(logs))

	type list struct {
		Orders []catering.ProcessView `json:"orders"`
		Count  int                    `json:"count"`
		Total  int                    `json:"total"`
	}
	r := get(t, h, "/orders")
	require.Equal(t, http.StatusOK, r.status)
	require.Equal(t, list{Orders: []catering.ProcessView{a, b}, Count: 2, Total: 2}, decode[list](t, r))
	require.Equal(t, catering.Filter{Limit: 1000}, src.filter, "default limit")
	require.InDelta(t, 30*time.Second, src.hadDL, float64(time.Second))

	src.list = nil
	r = get(t, h, "/orders?status=expired")
	require.Equal(t, http.StatusOK, r.status)
	require.JSONEq(t, `{"orders":[],"count":0,"total":0}`, r.body, "an empty list is [], not null")

	for _, tc := range []struct {
		query string
		want  catering.Filter
	}{
		{"status=pending&older_than=24h&limit=100", catering.Filter{Status: "pending", OlderThan: 24 * time.Hour, Limit: 100}},
		{"status=confirmed", catering.Filter{Status: "confirmed", Limit: 1000}},
		{"status=expired&limit=10000", catering.Filter{Status: "expired", Limit: 10000}},
		{"status=&older_than=", catering.Filter{Limit: 1000}},
		{"older_than=7d", catering.Filter{OlderThan: 7 * 24 * time.Hour, Limit: 1000}},
		{"older_than=1d12h", catering.Filter{OlderThan: 36 * time.Hour, Limit: 1000}},
		{"older_than=90s&limit=1", catering.Filter{OlderThan: 90 * time.Second, Limit: 1}},
		{"older_than=0s", catering.Filter{Limit: 1000}},
	} {
		t.Run(tc.query, func(t *testing.T) {
			r := get(t, h, "/orders?"+tc.query)
			require.Equal(t, http.StatusOK, r.status, r.body)
			require.Equal(t, tc.want, src.filter)
		})
	}

	for _, tc := range []struct {
		query string
		want  []string // in the error message
	}{
		{"status=open", []string{`status "open"`, "pending, confirmed, expired"}},
		{"status=PENDING", []string{"status", "pending, confirmed, expired"}},
		{"older_than=yesterday", []string{`older_than "yesterday"`, "24h", "7d"}},
		{"older_than=-1h", []string{"older_than", "non-negative"}},
		{"older_than=7days", []string{"older_than"}},
		{"limit=0", []string{`limit "0"`, "1 to 10000"}},
		{"limit=10001", []string{"limit", "1 to 10000"}},
		{"limit=ten", []string{"limit", "1 to 10000"}},
		{"statuss=pending", []string{`unknown parameter "statuss"`, "status, older_than, limit and after"}},
		{"after=!!", []string{`after "!!"`, "next of the previous page"}},
	} {
		t.Run("bad "+tc.query, func(t *testing.T) {
			r := get(t, h, "/orders?"+tc.query)
			require.Equal(t, http.StatusBadRequest, r.status)
			msg := errorOf(t, r)
			for _, w := range tc.want {
				require.Contains(t, msg, w)
			}
		})
	}
	require.Empty(t, logs.warns)

	src.err = processor.ErrNotRunning
	r = get(t, h, "/orders")
	require.Equal(t, http.StatusServiceUnavailable, r.status)
	require.Equal(t, "2", r.header.Get("Retry-After"))
	require.Contains(t, errorOf(t, r), "not running")

	src.err = context.DeadlineExceeded
	r = get(t, h, "/orders")
	require.Equal(t, http.StatusInternalServerError, r.status)
	require.Contains(t, errorOf(t, r), "list orders")
	require.Len(t, logs.warns, 1)
}

func TestPage(t *testing.T) {
	h := Handler(&fakeSource{}, prometheus.NewRegistry(), slog.New(&logRecorder{}))
	r := get(t, h, "/")
	require.Equal(t, http.StatusOK, r.status)
	require.Equal(t, "text/html; charset=utf-8", r.header.Get("Content-Type"))
	for _, id := range []string{`<table id="pending"`, `<table id="confirmed"`, `<table id="expired"`, `id="ready"`, `id="updated"`,
		`<table id="dlq"`, `<table id="steps"`, `id="chart-events"`, `<label for="order-id">`, `<label for="per-page">`} {
		require.Contains(t, r.body, id)
	}
	require.NotContains(t, r.body, "innerHTML", "data is written with textContent only")
	require.NotRegexp(t, `(src|href)="https?:`, r.body, "no external assets")
	require.NotRegexp(t, ` on[a-z]+=`, r.body, "no inline event handlers: the CSP would block them")

	csp := r.header.Get("Content-Security-Policy")
	require.Contains(t, csp, "default-src 'none'")
	require.Contains(t, csp, "script-src 'sha256-")
	require.Contains(t, csp, "style-src 'sha256-")

	require.Equal(t, http.StatusNotFound, get(t, h, "/nothing-here").status)
	require.Equal(t, http.StatusMethodNotAllowed, do(t, h, http.MethodPost, "/").status)
}

func TestAccessLogAtDebug(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	h := Handler(&fakeSource{}, prometheus.NewRegistry(), log)
	get(t, h, "/orders/7")
	line := buf.String()
	require.Contains(t, line, "level=DEBUG")
	require.Contains(t, line, "path=/orders/7")
	require.Contains(t, line, "status=404")
}
