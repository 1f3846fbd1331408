package ops

import (
	"context"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/catering-match/catering-match/internal/catering"
	"github.com/catering-match/catering-match/processor"
	"github.com/catering-match/catering-match/state"
)

var _ Operator = catering.Queries{}

// fakeOperator is a fakeSource that also serves the panels.
type fakeOperator struct {
	fakeSource
	page  catering.OrderPage
	steps map[string]catering.StepsView
	dead  processor.DeadLetters
	lag   map[int32]int64
	cfg   processor.Config
	stats processor.Stats

	omu   sync.Mutex
	after processor.Cursor // the cursor OrderPage was asked for
}

func (f *fakeOperator) OrderPage(ctx context.Context, fl catering.Filter, after processor.Cursor) (catering.OrderPage, error) {
	f.noteDeadline(ctx)
	f.mu.Lock()
	f.filter = fl
	f.mu.Unlock()
	f.omu.Lock()
	f.after = after
	f.omu.Unlock()
	return f.page, f.err
}

func (f *fakeOperator) OrderSteps(_ context.Context, id string) (catering.StepsView, bool, error) {
	v, ok := f.steps[id]
	return v, ok, f.err
}

func (f *fakeOperator) DeadLetters(context.Context, int) (processor.DeadLetters, error) {
	return f.dead, f.err
}

func (f *fakeOperator) Stats() *processor.Stats { return &f.stats }

func (f *fakeOperator) Lag(context.Context) (map[int32]int64, error) { return f.lag, nil }

func (f *fakeOperator) Config() processor.Config { return f.cfg }

func newOperator() *fakeOperator {
	cfg := processor.DefaultConfig()
	cfg.Brokers = []string{"kafka-1:9092", "kafka-2:9092"}
	return &fakeOperator{cfg: cfg, lag: map[int32]int64{0: 3, 1: 4}}
}

func testHandler(t *testing.T, src Source) http.Handler {
	return newHandler(t.Context(), src, prometheus.NewRegistry(), slog.New(&logRecorder{}), time.Hour)
}

func TestOrdersPaged(t *testing.T) {
	src := newOperator()
	h := testHandler(t, src)
	type list struct {
		Orders []catering.ProcessView `json:"orders"`
		Count  int                    `json:"count"`
		Total  int                    `json:"total"`
		Next   string                 `json:"next"`
	}
	// A key that needs the encoding: a newline, a slash, non-ASCII.
	next := processor.Cursor{Started: t0.Add(1500 * time.Microsecond), Key: "a/b\nç"}
	src.page = catering.OrderPage{Orders: []catering.ProcessView{pendingView("1"), pendingView("2")}, Total: 7, Next: next}

	r := get(t, h, "/orders?status=pending&limit=2")
	require.Equal(t, http.StatusOK, r.status, r.body)
	got := decode[list](t, r)
	require.Equal(t, 2, got.Count)
	require.Equal(t, 7, got.Total)
	require.NotEmpty(t, got.Next)
	require.Equal(t, catering.Filter{Status: "pending", Limit: 2}, src.filter)
	require.True(t, src.after.IsZero())

	r = get(t, h, "/orders?status=pending&limit=2&after="+url.QueryEscape(got.Next))
	require.Equal(t, http.StatusOK, r.status, r.body)
	require.True(t, next.Started.Equal(src.after.Started))
	require.Equal(t, next.Key, src.after.Key)

	// The last page has no next.
	src.page = catering.OrderPage{Total: 7}
	r = get(t, h, "/orders?after="+url.QueryEscape(got.Next))
	require.JSONEq(t, `{"orders":[],"count":0,"total":7}`, r.body)

	// A plain Source does not page.
	plain := testHandler(t, &fakeSource{})
	r = get(t, plain, "/orders?after="+url.QueryEscape(got.Next))
	require.Equal(t, http.StatusNotImplemented, r.status)
}

func TestStepsEndpoint(t *testing.T) {
	src := newOperator()
	v := catering.StepsView{OrderID: "42", Status: "pending", Source: "memory", CommandID: state.CommandID("42"),
		Steps: []catering.StepView{{Entry: catering.EntryView{ID: "e1", Type: state.CustomerConfirmedMenu, MenuID: "menu-a", At: t0},
			Status: "pending", Menus: []catering.MenuView{{MenuID: "menu-a", Customer: true, Caterer: "none"}},
			WhyPending: "waiting for the caterer on menu-a", Missing: []string{"caterer"}}}}
	src.steps = map[string]catering.StepsView{"42": v}
	h := testHandler(t, src)

	r := get(t, h, "/orders/42/steps")
	require.Equal(t, http.StatusOK, r.status)
	require.Equal(t, v, decode[catering.StepsView](t, r))
	require.Equal(t, http.StatusNotFound, get(t, h, "/orders/43/steps").status)
	require.Equal(t, http.StatusBadRequest, get(t, h, "/orders/"+strings.Repeat("x", 129)+"/steps").status)
	require.Equal(t, http.StatusNotImplemented, get(t, testHandler(t, &fakeSource{}), "/orders/42/steps").status)
}

func TestDeadLettersEndpoint(t *testing.T) {
	src := newOperator()
	src.cfg.Group = "cm-prod"
	src.dead = processor.DeadLetters{Topic: "catering-events-dlq",
		Partitions: []processor.DeadLetterPartition{{Partition: 0, Start: 0, End: 12}, {Partition: 1, Start: 3, End: 3}},
		Latest: []processor.DeadLetter{
			{Partition: 0, Offset: 10, Timestamp: t0, Key: []byte("it's 44"), Value: []byte(`{"id":"e1","order_id":"45"}`),
				Reason: `order_id "45" differs from record key "it's 44"`, Kind: "key_mismatch",
				Topic: "catering-events", SourcePartition: 3, SourceOffset: 1250},
			{Partition: 0, Offset: 8, Timestamp: t0, Key: []byte("46"), Value: []byte(strings.Repeat("é", 150)),
				Reason: "written by someone else", SourcePartition: -1, SourceOffset: -1},
		}}
	h := testHandler(t, src)

	type body struct {
		Topic      string           `json:"topic"`
		SinceStart map[string]int64 `json:"since_start"`
		InLatest   map[string]int   `json:"in_latest"`
		Partitions []dlqPartition   `json:"partitions"`
		Latest     []deadLetterView `json:"latest"`
		ByReason   []reasonCommands `json:"by_reason"`
		Note       string           `json:"note"`
	}
	r := get(t, h, "/dead-letters")
	require.Equal(t, http.StatusOK, r.status, r.body)
	b := decode[body](t, r)
	require.Equal(t, "catering-events-dlq", b.Topic)
	require.Empty(t, b.SinceStart, "this instance dead-lettered nothing")
	require.Equal(t, map[string]int{"key_mismatch": 1, "": 1}, b.InLatest)
	require.Len(t, b.Partitions, 2)
	require.Len(t, b.Latest, 2)

	d := b.Latest[0]
	require.Equal(t, "it's 44", d.Key)
	require.Equal(t, int32(3), d.SourcePartition)
	require.Equal(t, int64(1250), d.SourceOffset)
	require.Equal(t, `catering redrive --brokers kafka-1:9092,kafka-2:9092 --dlq-topic catering-events-dlq --group cm-prod --reason key_mismatch --order 'it'\''s 44' --partition 0 --from 10 --to 11 --dry-run`, d.DryRun)
	require.Equal(t, strings.TrimSuffix(d.DryRun, " --dry-run"), d.Redrive)
	require.Empty(t, d.NoRedrive)

	d = b.Latest[1]
	require.Empty(t, d.Redrive, "no coordinates: no command")
	require.Contains(t, d.NoRedrive, "no dlq-topic")
	require.Equal(t, 300, d.ValueBytes)
	require.Equal(t, strings.Repeat("é", 100)+"…", d.Value, "cut on a rune boundary")

	require.Equal(t, []reasonCommands{{Kind: "key_mismatch",
		DryRun:  "catering redrive --brokers kafka-1:9092,kafka-2:9092 --dlq-topic catering-events-dlq --group cm-prod --reason key_mismatch --dry-run",
		Redrive: "catering redrive --brokers kafka-1:9092,kafka-2:9092 --dlq-topic catering-events-dlq --group cm-prod --reason key_mismatch"}},
		b.ByReason, "one command per kind redrive knows")

	for _, q := range []string{"limit=0", "limit=201", "limit=x", "lim=3"} {
		require.Equal(t, http.StatusBadRequest, get(t, h, "/dead-letters?"+q).status, q)
	}
	require.Equal(t, http.StatusNotImplemented, get(t, testHandler(t, &fakeSource{}), "/dead-letters").status)
}

func TestRedriveQuoting(t *testing.T) {
	require.Equal(t, `catering redrive --order 42`, command([]string{"catering", "redrive", "--order", "42"}))
	require.Equal(t, `x '<img src=x>' 'a b' 'it'\''s' ''`, command([]string{"x", "<img src=x>", "a b", "it's", ""}))
	require.Equal(t, "'a\nb'", command([]string{"a\nb"}))
}

func TestActivity(t *testing.T) {
	src := newOperator()
	s := newSampler(src, 10*time.Second, slog.New(&logRecorder{}))
	ctx := context.Background()
	s.take(ctx)
	require.Len(t, s.activity().Points, 1)
	first := s.activity().Points[0]
	require.Nil(t, first.EventsPerSecond, "a rate needs two samples")
	require.Equal(t, int64(7), *first.Lag, "the lags of every partition")

	for i := range 120 {
		src.stats.Applied.Add(100)
		src.stats.TxnCommitted.Add(2)
		if i%10 == 0 {
			src.stats.TxnAborted.Add(1)
		}
		s.take(ctx)
	}
	a := s.activity()
	require.Len(t, a.Points, samplesKept, "a ring of 90")
	require.Equal(t, 900.0, a.WindowSeconds)
	require.Nil(t, a.Points[0].Committed, "the oldest point kept has no interval")
	for i, p := range a.Points[1:] {
		require.False(t, p.At.Before(a.Points[i].At), "oldest first")
		require.Equal(t, int64(2), *p.Committed)
		require.Positive(t, *p.EventsPerSecond)
	}

	// Over HTTP, with the sampler the handler starts.
	h := newHandler(t.Context(), src, prometheus.NewRegistry(), slog.New(&logRecorder{}), 10*time.Millisecond)
	eventually(t, 10*time.Second, "three samples", func() bool {
		return len(decode[activity](t, get(t, h, "/activity")).Points) >= 3
	})
	require.Equal(t, http.StatusNotImplemented, get(t, testHandler(t, &fakeSource{}), "/activity").status)
}

// TestDeadLetterOfRecord: a dead letter as the processor reads it back,
// through the handler's view.
func TestDeadLetterOfRecord(t *testing.T) {
	cfg := processor.DefaultConfig()
	cfg.Brokers = []string{"127.0.0.1:9092"}
	cfg.Topics.Events = "ev-7"
	d := deadLetterOf(cfg, "dlq-7", processor.DeadLetter{Partition: 2, Offset: 5, Key: []byte("42"), Value: []byte("x"),
		Headers: []kgo.RecordHeader{{Key: "dlq-reason", Value: []byte("value is not a JSON object")}},
		Reason:  "value is not a JSON object", Kind: "not_json_object", Topic: "ev-7", SourcePartition: 1, SourceOffset: 9})
	require.Equal(t, "catering redrive --brokers 127.0.0.1:9092 --dlq-topic dlq-7 --events-topic ev-7 --reason not_json_object --order 42 --partition 2 --from 5 --to 6 --dry-run", d.DryRun)
}
