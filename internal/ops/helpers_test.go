package ops

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/catering-match/catering-match/internal/catering"
	"github.com/catering-match/catering-match/internal/embedded"
	"github.com/catering-match/catering-match/processor"
	"github.com/catering-match/catering-match/topics"
)

// These helpers follow processor/helpers_test.go: a processor running on an
// in-process kfake broker.

var testSeq atomic.Int64

// testNames returns topic names unique to one test.
func testNames() topics.Names {
	n := testSeq.Add(1)
	return topics.Names{
		Events:    fmt.Sprintf("ops-ev-%d", n),
		Commands:  fmt.Sprintf("ops-cmd-%d", n),
		Changelog: fmt.Sprintf("ops-cl-%d", n),
		DLQ:       fmt.Sprintf("ops-dlq-%d", n),
	}
}

func startBroker(t *testing.T) *embedded.Broker {
	t.Helper()
	b, err := embedded.StartAnyPort(embedded.Options{})
	require.NoError(t, err)
	t.Cleanup(b.Close)
	return b
}

// testLogger logs warnings; TEST_LOG=1 shows everything down to debug.
func testLogger(t *testing.T) *slog.Logger {
	level := slog.LevelWarn
	if os.Getenv("TEST_LOG") != "" {
		level = slog.LevelDebug
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

// start runs a processor in the background until the test ends, and waits
// until it is ready.
func start(t *testing.T, cfg processor.Config) catering.Queries {
	t.Helper()
	p, err := processor.New(cfg, catering.Definition())
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			require.NoError(t, err)
		case <-time.After(60 * time.Second):
			t.Errorf("processor %s did not stop within 60s", cfg.InstanceID)
		}
	})
	return catering.Queries{Processor: p}
}

func produce(t *testing.T, brokers string, rs ...*kgo.Record) {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers), kgo.ProducerLinger(0))
	require.NoError(t, err)
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	require.NoError(t, cl.ProduceSync(ctx, rs...).FirstErr())
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

// event is an input event record for topic, keyed by its order id.
func event(topic, id, typ, order, menu string) *kgo.Record {
	v, _ := topics.EncodeEvent(topics.Event{ID: id, Type: typ, OrderID: order, MenuID: menu})
	return &kgo.Record{Topic: topic, Key: []byte(order), Value: v}
}
