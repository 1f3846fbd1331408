package processor_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/catering-match/catering-match/processor"
	"github.com/catering-match/catering-match/state"
)

// counter is the smallest process: it counts events and never decides.
func counter(decode func(*kgo.Record) (string, state.Entry, error)) processor.Definition[int] {
	return processor.Definition[int]{
		Process: state.Definition[int]{
			Projection: state.Init(func() int { return 0 }).When("Tick", func(n int, _ state.Entry) int { return n + 1 }),
			Decide:     func(string, int, state.Entry, time.Time) (state.Entry, bool) { return state.Entry{}, false },
			Terminal:   func(int) bool { return false },
			Expire:     func(string, int, time.Time) state.Entry { return state.Entry{ID: "x", Type: "Expired"} },
		},
		Decode: decode,
	}
}

// TestDecodedKeyMustBeRecordKey: a process key other than the record key
// would put the process in another partition's store and changelog than
// its events; the engine dead-letters such a record.
func TestDecodedKeyMustBeRecordKey(t *testing.T) {
	b := startBroker(t, "")
	names := testNames(t)
	cfg := testConfig(t, b.Addr(), names)
	def := counter(func(r *kgo.Record) (string, state.Entry, error) {
		return string(r.Value), state.Entry{ID: string(r.Key) + "/" + string(r.Value), Type: "Tick"}, nil
	})
	p, err := processor.New(cfg, def)
	require.NoError(t, err)
	ctx := t.Context()
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	t.Cleanup(func() { require.NoError(t, <-done) }) // t.Context ends before the cleanups run
	produce(t, b.Addr(),
		&kgo.Record{Topic: names.Events, Key: []byte("k1"), Value: []byte("k1")},
		&kgo.Record{Topic: names.Events, Key: []byte("k2"), Value: []byte("other")},
	)
	eventually(t, 30*time.Second, "both records accounted", func() bool {
		s := p.Stats()
		return s.Applied.Load()+s.DeadLettered.Load() == 2
	})
	require.EqualValues(t, 1, p.Stats().Applied.Load())
	require.Equal(t, map[string]int64{"key_mismatch": 1}, p.Stats().DeadLetteredByKind())
	dl := readAll(t, b.Addr(), names.DLQ)
	require.Len(t, dl, 1)
	require.Equal(t, "k2", string(dl[0].Key))
	var reason string
	for _, h := range dl[0].Headers {
		if h.Key == "dlq-reason" {
			reason = string(h.Value)
		}
	}
	require.Equal(t, `process key "other" differs from the record key "k2"`, reason)
}

// TestSummaryNeedsStatus: a Summary names statuses, so it must come with
// the Status it agrees with; New says so.
func TestSummaryNeedsStatus(t *testing.T) {
	def := counter(func(*kgo.Record) (string, state.Entry, error) { return "", state.Entry{}, nil })
	def.Summary = func([]state.Entry) (string, bool) { return "pending", false }
	cfg := processor.DefaultConfig()
	cfg.Brokers, cfg.InstanceID = []string{"127.0.0.1:9092"}, "a"
	_, err := processor.New(cfg, def)
	require.ErrorContains(t, err, "Summary but no Status")
	def.Status = func(int) string { return "pending" }
	_, err = processor.New(cfg, def)
	require.NoError(t, err)
}
