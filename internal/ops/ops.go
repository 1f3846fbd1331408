// Package ops owns the service's operations HTTP surface: liveness and
// readiness probes, Prometheus metrics, order queries as JSON, and a live
// operations page: the activity of the last 15 minutes, the dead letters
// with the commands that send them back, an order's history step by step,
// and the pending, confirmed and expired orders a page at a time.
package ops

import (
	"context"
	"crypto/sha256"
	_ "embed"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/catering-match/catering-match/internal/catering"
	"github.com/catering-match/catering-match/processor"
	"github.com/catering-match/catering-match/topics"
)

// Source answers the queries the handler serves; *processor.Processor is one.
type Source interface {
	// Ready reports whether the instance has joined its group and restored
	// its partitions.
	Ready() bool
	// Held returns the input partitions the instance holds (state, timers
	// or a restore): exactly its current assignment.
	Held() []int32
	// Order returns one order's process; ok is false when it has none.
	Order(ctx context.Context, id string) (catering.ProcessView, bool, error)
	// Orders lists processes, oldest first.
	Orders(ctx context.Context, f catering.Filter) ([]catering.ProcessView, error)
}

// Operator is a Source that also serves the page's panels;
// catering.Queries is one. With a plain Source, GET /orders lists with
// Orders, unpaged, and the panels' endpoints answer 501.
type Operator interface {
	Source
	// OrderPage is one page of the processes f selects, after the cursor;
	// it holds the processor's loop in bounded pieces only.
	OrderPage(ctx context.Context, f catering.Filter, after processor.Cursor) (catering.OrderPage, error)
	// OrderSteps is an order's history with its state after each entry.
	OrderSteps(ctx context.Context, id string) (catering.StepsView, bool, error)
	// DeadLetters reads the latest dead letters of the DLQ topic.
	DeadLetters(ctx context.Context, limit int) (processor.DeadLetters, error)
	// Stats are the processor's counters since it started.
	Stats() *processor.Stats
	// Lag is the consumer lag per held partition; it visits no process.
	Lag(ctx context.Context) (map[int32]int64, error)
	// Config is the processor's configuration: the redrive command lines
	// name its brokers, topics and group.
	Config() processor.Config
}

// The limits of GET /orders and GET /dead-letters.
const (
	queryTimeout      = 30 * time.Second
	defaultLimit      = 1000
	maxLimit          = 10000
	defaultDeadLimit  = 20
	maxDeadLimit      = 200
	deadLetterTimeout = 20 * time.Second
)

var statuses = []string{"pending", "confirmed", "expired"}

//go:embed page.html
var page []byte

// pageCSP allows the page's own inline script and style (by hash, so that
// nothing else inline runs) and requests to this server only.
var pageCSP = func() string {
	hashes := func(tag string) string {
		re := regexp.MustCompile(`(?s)<` + tag + `>(.*?)</` + tag + `>`)
		var out []string
		for _, m := range re.FindAllSubmatch(page, -1) {
			sum := sha256.Sum256(m[1])
			out = append(out, "'sha256-"+base64.StdEncoding.EncodeToString(sum[:])+"'")
		}
		return strings.Join(out, " ")
	}
	return "default-src 'none'; script-src " + hashes("script") + "; style-src " + hashes("style") +
		"; connect-src 'self'; img-src data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
}()

// Handler is New for a handler that lives as long as the process: its
// activity sampler never stops.
func Handler(src Source, gatherer prometheus.Gatherer, log *slog.Logger) http.Handler {
	return New(context.Background(), src, gatherer, log)
}

// New returns the operations endpoints:
//
//	GET /healthz             200 "ok" while the process runs
//	GET /readyz              200 "ready" once joined and restored, else 503;
//	                         the second line is "partitions held: 0,2,4"
//	                         (or "none")
//	GET /metrics             Prometheus metrics from gatherer
//	GET /orders/{id}         one order's process as JSON
//	GET /orders/{id}/steps   its history with the state after each entry
//	GET /orders              processes as JSON, oldest first, a page at a
//	                         time: ?status=&older_than=&limit=&after=
//	GET /dead-letters        the latest dead letters, the counts per
//	                         reason and the redrive commands: ?limit=
//	GET /activity            events applied per second, lag and
//	                         transactions over the last 15 minutes
//	GET /                    the operations page
//
// When src is an Operator, New starts sampling its counters and lag for
// /activity every 10 s, until ctx ends. gatherer is usually the registry
// given to processor.Config.Registerer. Requests are logged at debug
// level; failures at warn, once. The caller's http.Server sets the
// connection timeouts (ReadHeaderTimeout at least).
func New(ctx context.Context, src Source, gatherer prometheus.Gatherer, log *slog.Logger) http.Handler {
	return newHandler(ctx, src, gatherer, log, sampleEvery)
}

func newHandler(ctx context.Context, src Source, gatherer prometheus.Gatherer, log *slog.Logger, every time.Duration) http.Handler {
	if log == nil {
		log = slog.Default()
	}
	h := &handler{src: src, log: log}
	if op, ok := src.(Operator); ok {
		h.op = op
		h.activity = newSampler(op, every, log)
		go h.activity.run(ctx)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		text(w, http.StatusOK, "ok")
	})
	mux.HandleFunc("GET /readyz", h.readyz)
	mux.Handle("GET /metrics", promhttp.HandlerFor(gatherer, promhttp.HandlerOpts{
		ErrorLog:      promLogger{log},
		ErrorHandling: promhttp.ContinueOnError, // serve what could be gathered
	}))
	mux.HandleFunc("GET /orders/{id}", h.order)
	mux.HandleFunc("GET /orders/{id}/steps", h.steps)
	mux.HandleFunc("GET /orders", h.orders)
	mux.HandleFunc("GET /dead-letters", h.deadLetters)
	mux.HandleFunc("GET /activity", h.activityJSON)
	mux.HandleFunc("GET /{$}", servePage)
	return accessLog(mux, log)
}

type handler struct {
	src      Source
	op       Operator // nil: src serves the basics only
	activity *sampler // nil without op
	log      *slog.Logger
}

// notAvailable answers an endpoint that needs an Operator.
func notAvailable(w http.ResponseWriter) {
	writeError(w, http.StatusNotImplemented, "not available: this source serves orders and probes only")
}

func (h *handler) readyz(w http.ResponseWriter, _ *http.Request) {
	held := "partitions held: " + heldList(h.src.Held())
	if h.src.Ready() {
		text(w, http.StatusOK, "ready\n"+held)
		return
	}
	text(w, http.StatusServiceUnavailable, "not ready: joining the group or restoring partitions\n"+held)
}

// heldList formats partitions as "0,2,4", or "none".
func heldList(parts []int32) string {
	if len(parts) == 0 {
		return "none"
	}
	s := make([]string, len(parts))
	for i, p := range parts {
		s[i] = strconv.Itoa(int(p))
	}
	return strings.Join(s, ",")
}

// orderID reads the {id} of the path; false when it was answered already.
func orderID(w http.ResponseWriter, r *http.Request) (string, bool) {
	id := r.PathValue("id")
	if len(id) > topics.MaxFieldBytes {
		// No event with such an order id is ever accepted; spare the
		// changelog read.
		writeError(w, http.StatusBadRequest, fmt.Sprintf("order id is %d bytes; order ids have at most %d", len(id), topics.MaxFieldBytes))
		return "", false
	}
	return id, true
}

func noProcess(w http.ResponseWriter, id string) {
	writeError(w, http.StatusNotFound, fmt.Sprintf("order %s has no process (never seen, or forgotten after retention)", id))
}

func (h *handler) order(w http.ResponseWriter, r *http.Request) {
	id, ok := orderID(w, r)
	if !ok {
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), queryTimeout)
	defer cancel()
	v, ok, err := h.src.Order(ctx, id)
	if err != nil {
		h.fail(w, r, fmt.Errorf("query order %q: %w", id, err), "order_id", id)
		return
	}
	if !ok {
		noProcess(w, id)
		return
	}
	writeJSON(w, http.StatusOK, v)
}

func (h *handler) steps(w http.ResponseWriter, r *http.Request) {
	if h.op == nil {
		notAvailable(w)
		return
	}
	id, ok := orderID(w, r)
	if !ok {
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), queryTimeout)
	defer cancel()
	v, ok, err := h.op.OrderSteps(ctx, id)
	if err != nil {
		h.fail(w, r, fmt.Errorf("query order %q: %w", id, err), "order_id", id)
		return
	}
	if !ok {
		noProcess(w, id)
		return
	}
	writeJSON(w, http.StatusOK, v)
}

// orderList is the body of GET /orders.
type orderList struct {
	Orders []catering.ProcessView `json:"orders"`
	Count  int                    `json:"count"` // on this page
	Total  int                    `json:"total"` // on every page
	// Next is the after= of the next page; absent on the last.
	Next string `json:"next,omitempty"`
}

func (h *handler) orders(w http.ResponseWriter, r *http.Request) {
	f, after, err := parseFilter(r)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), queryTimeout)
	defer cancel()
	var out orderList
	if h.op != nil {
		pg, err := h.op.OrderPage(ctx, f, after)
		if err != nil {
			h.fail(w, r, fmt.Errorf("list orders: %w", err))
			return
		}
		out = orderList{Orders: pg.Orders, Total: pg.Total}
		if !pg.Next.IsZero() {
			out.Next = encodeCursor(pg.Next)
		}
	} else {
		if !after.IsZero() {
			writeError(w, http.StatusNotImplemented, "not available: this source does not page; leave out after")
			return
		}
		vs, err := h.src.Orders(ctx, f)
		if err != nil {
			h.fail(w, r, fmt.Errorf("list orders: %w", err))
			return
		}
		out = orderList{Orders: vs, Total: len(vs)}
	}
	if out.Orders == nil {
		out.Orders = []catering.ProcessView{} // "orders": [], never null
	}
	out.Count = len(out.Orders)
	writeJSON(w, http.StatusOK, out)
}

// encodeCursor makes a page position an after= value: opaque, URL-safe.
func encodeCursor(c processor.Cursor) string {
	return base64.RawURLEncoding.EncodeToString([]byte(c.Started.UTC().Format(time.RFC3339Nano) + "\n" + c.Key))
}

func decodeCursor(s string) (processor.Cursor, error) {
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return processor.Cursor{}, err
	}
	at, key, ok := strings.Cut(string(b), "\n")
	if !ok {
		return processor.Cursor{}, errors.New("no key")
	}
	t, err := time.Parse(time.RFC3339Nano, at)
	if err != nil {
		return processor.Cursor{}, err
	}
	return processor.Cursor{Started: t, Key: key}, nil
}

// parseFilter reads ?status=&older_than=&limit=&after=, rejecting unknown
// parameters so that a typo does not silently list everything.
func parseFilter(r *http.Request) (f catering.Filter, after processor.Cursor, err error) {
	f = catering.Filter{Limit: defaultLimit}
	q := r.URL.Query()
	for name := range q {
		switch name {
		case "status", "older_than", "limit", "after":
		default:
			return f, after, fmt.Errorf("unknown parameter %q: use status, older_than, limit and after", name)
		}
	}
	if s := q.Get("after"); s != "" {
		if after, err = decodeCursor(s); err != nil {
			return f, after, fmt.Errorf("after %q: use the next of the previous page, as it came", s)
		}
	}
	if s := q.Get("status"); s != "" {
		if !slices.Contains(statuses, s) {
			return f, after, fmt.Errorf("status %q: use %s, or leave it out for all", s, strings.Join(statuses, ", "))
		}
		f.Status = s
	}
	if s := q.Get("older_than"); s != "" {
		d, err := parseAge(s)
		if err != nil {
			return f, after, fmt.Errorf("older_than %q: use a non-negative duration such as 90s, 30m, 24h or 7d", s)
		}
		f.OlderThan = d
	}
	if s := q.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > maxLimit {
			return f, after, fmt.Errorf("limit %q: use a whole number from 1 to %d (default %d)", s, maxLimit, defaultLimit)
		}
		f.Limit = n
	}
	return f, after, nil
}

var days = regexp.MustCompile(`^(\d+)d(.*)$`)

// parseAge parses a Go duration, optionally led by whole days: "7d",
// "1d12h", "36h".
func parseAge(s string) (time.Duration, error) {
	var d time.Duration
	if m := days.FindStringSubmatch(s); m != nil {
		n, err := strconv.Atoi(m[1])
		if err != nil || n > 100*365 {
			return 0, errors.New("too many days")
		}
		d, s = time.Duration(n)*24*time.Hour, m[2]
		if s == "" {
			return d, nil
		}
	}
	rest, err := time.ParseDuration(s)
	if err != nil || rest < 0 {
		return 0, errors.New("not a non-negative duration")
	}
	return d + rest, nil
}

// fail answers a query that failed: 503 while the processor is not running
// a session (it logs why itself), 500 otherwise, logged here once.
func (h *handler) fail(w http.ResponseWriter, r *http.Request, err error, attrs ...any) {
	switch {
	case errors.Is(err, processor.ErrNotRunning):
		w.Header().Set("Retry-After", "2")
		writeError(w, http.StatusServiceUnavailable, "processor is not running (starting, or rebuilding its session after an error); retry shortly")
	case r.Context().Err() != nil:
		// The client went away; nobody reads the answer.
		writeError(w, http.StatusInternalServerError, err.Error())
	default:
		h.log.Warn("ops query failed", append([]any{"path", r.URL.Path, "err", err}, attrs...)...)
		writeError(w, http.StatusInternalServerError, err.Error())
	}
}

func servePage(w http.ResponseWriter, _ *http.Request) {
	hd := w.Header()
	hd.Set("Content-Type", "text/html; charset=utf-8")
	hd.Set("Content-Security-Policy", pageCSP)
	hd.Set("X-Content-Type-Options", "nosniff")
	hd.Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(page)
}

func text(w http.ResponseWriter, status int, body string) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write([]byte(body + "\n"))
}

// errorBody is the body of every JSON error answer.
type errorBody struct {
	Error string `json:"error"`
}

func writeError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, errorBody{Error: msg})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil { // only plain structs are written: cannot happen
		status, b = http.StatusInternalServerError, []byte(`{"error":"encode response"}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n'))
}

// accessLog logs every request at debug level.
func accessLog(next http.Handler, log *slog.Logger) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !log.Enabled(r.Context(), slog.LevelDebug) {
			next.ServeHTTP(w, r)
			return
		}
		start := time.Now()
		rec := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
		next.ServeHTTP(rec, r)
		log.LogAttrs(r.Context(), slog.LevelDebug, "http request",
			slog.String("method", r.Method), slog.String("path", r.URL.RequestURI()),
			slog.Int("status", rec.status), slog.Int64("bytes", rec.bytes),
			slog.Duration("took", time.Since(start)), slog.String("remote", r.RemoteAddr))
	})
}

type statusRecorder struct {
	http.ResponseWriter
	status      int
	bytes       int64
	wroteHeader bool
}

func (s *statusRecorder) WriteHeader(code int) {
	if !s.wroteHeader {
		s.status, s.wroteHeader = code, true
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusRecorder) Write(b []byte) (int, error) {
	s.wroteHeader = true
	n, err := s.ResponseWriter.Write(b)
	s.bytes += int64(n)
	return n, err
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (s *statusRecorder) Unwrap() http.ResponseWriter { return s.ResponseWriter }

// promLogger routes promhttp's gathering errors to the logger.
type promLogger struct{ log *slog.Logger }

func (p promLogger) Println(v ...any) {
	p.log.Warn("metrics gathering failed", "err", strings.TrimSpace(fmt.Sprintln(v...)))
}
