package processor_test

import (
	"context"
	"fmt"
	"github.com/catering-match/catering-match/internal/catering"
	"github.com/catering-match/catering-match/processor"
	"log/slog"
	"os"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/catering-match/catering-match/internal/embedded"
	"github.com/catering-match/catering-match/state"
	"github.com/catering-match/catering-match/topics"
)

var testSeq atomic.Int64

// testNames returns topic names unique to one test.
func testNames(t *testing.T) topics.Names {
	n := testSeq.Add(1)
	return topics.Names{
		Events:    fmt.Sprintf("ev-%d", n),
		Commands:  fmt.Sprintf("cmd-%d", n),
		Changelog: fmt.Sprintf("cl-%d", n),
		DLQ:       fmt.Sprintf("dlq-%d", n),
	}
}

func startBroker(t *testing.T, dataDir string) *embedded.Broker {
	t.Helper()
	b, err := embedded.StartAnyPort(embedded.Options{DataDir: dataDir})
	require.NoError(t, err)
	t.Cleanup(b.Close)
	return b
}

func testLogger(t *testing.T) *slog.Logger {
	level := slog.LevelWarn
	if os.Getenv("TEST_LOG") != "" {
		level = slog.LevelInfo
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level})).With("test", t.Name())
}

func testConfig(t *testing.T, brokers string, names topics.Names) processor.Config {
	cfg := processor.DefaultConfig()
	cfg.Brokers = []string{brokers}
	cfg.Group = "g-" + names.Events
	cfg.InstanceID = "i1"
	cfg.Topics = names
	cfg.Spec.Partitions = 3
	cfg.Logger = testLogger(t)
	cfg.SessionTimeout = 6 * time.Second
	return cfg
}

// running is a processor running in the background.
type running struct {
	p      *processor.Processor[state.Order]
	cancel context.CancelFunc
	done   chan error
}

func start(t *testing.T, cfg processor.Config) *running {
	t.Helper()
	p, err := processor.New(cfg, catering.Definition())
	require.NoError(t, err)
	return startProcessor(t, p)
}

// startProcessor runs p until the test ends.
func startProcessor(t *testing.T, p *processor.Processor[state.Order]) *running {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	r := &running{p: p, cancel: cancel, done: make(chan error, 1)}
	go func() { r.done <- p.Run(ctx) }()
	t.Cleanup(func() { r.stop(t) })
	return r
}

// stop cancels the processor and waits for Run to return.
func (r *running) stop(t *testing.T) {
	t.Helper()
	if r.cancel == nil {
		return
	}
	r.cancel()
	r.cancel = nil
	select {
	case err := <-r.done:
		require.NoError(t, err)
	case <-time.After(60 * time.Second):
		t.Errorf("processor did not stop within 60s")
	}
}

func client(t *testing.T, brokers string, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(brokers)}, opts...)...)
	require.NoError(t, err)
	t.Cleanup(cl.Close)
	return cl
}

func produce(t *testing.T, brokers string, rs ...*kgo.Record) {
	t.Helper()
	cl := client(t, brokers, kgo.ProducerLinger(0))
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	require.NoError(t, cl.ProduceSync(ctx, rs...).FirstErr())
}

// readAll reads topic from the start to its end offsets at the time of the
// call, read_committed.
func readAll(t *testing.T, brokers, topic string) []*kgo.Record {
	t.Helper()
	adm := kadm.NewClient(client(t, brokers))
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	ends, err := adm.ListCommittedOffsets(ctx, topic)
	require.NoError(t, err)
	want := map[int32]int64{}
	ends.Each(func(o kadm.ListedOffset) {
		if o.Offset > 0 {
			want[o.Partition] = o.Offset
		}
	})
	if len(want) == 0 {
		return nil
	}
	cl := client(t, brokers, kgo.ConsumeTopics(topic), kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.KeepControlRecords())
	var out []*kgo.Record
	for len(want) > 0 {
		fs := cl.PollFetches(ctx)
		require.NoError(t, ctx.Err(), "reading %s: still waiting for %v", topic, want)
		fs.EachRecord(func(r *kgo.Record) {
			if r.Offset+1 >= want[r.Partition] {
				delete(want, r.Partition)
			}
			if !r.Attrs.IsControl() {
				out = append(out, r)
			}
		})
	}
	return out
}

// eventually polls cond until it holds or the deadline passes.
func eventually(t *testing.T, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", within, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func event(id, typ, order, menu string) *kgo.Record {
	v, _ := topics.EncodeEvent(topics.Event{ID: id, Type: typ, OrderID: order, MenuID: menu})
	return &kgo.Record{Key: []byte(order), Value: v}
}
