package main

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/catering-match/catering-match/internal/embedded"
	"github.com/catering-match/catering-match/processor"
)

// fact is one input event of an order's test sequence.
type fact struct{ name, typ, idSuffix string }

// The facts: each kind once, and each redelivered (same id).
var facts = []fact{
	{"placed", OrderPlaced, "p"},
	{"paid", PaymentReceived, "q"},
	{"placed again", OrderPlaced, "p"},
	{"paid again", PaymentReceived, "q"},
}

// sequences returns every ordering of every non-empty subset of facts.
func sequences() [][]fact {
	var out [][]fact
	var rec func(prefix []fact, used int)
	rec = func(prefix []fact, used int) {
		if len(prefix) > 0 {
			out = append(out, slices.Clone(prefix))
		}
		for i, f := range facts {
			if used&(1<<i) == 0 {
				rec(append(prefix, f), used|1<<i)
			}
		}
	}
	rec(nil, 0)
	return out
}

// ships is the rule, written again: an order ships once it has been
// placed and paid, whatever the order and the redeliveries.
func ships(seq []fact) bool {
	var placed, paid bool
	for _, f := range seq {
		placed = placed || f.typ == OrderPlaced
		paid = paid || f.typ == PaymentReceived
	}
	return placed && paid
}

type manualClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *manualClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *manualClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// TestShipping runs the example on an embedded broker: every ordering of
// its facts, half of each published before a restart and half after, then
// the deadline. Each placed-and-paid order gets exactly one ShipOrder,
// every other order exactly one CancelOrder, and nothing else is issued.
func TestShipping(t *testing.T) {
	b, err := embedded.StartAnyPort(embedded.Options{})
	require.NoError(t, err)
	t.Cleanup(b.Close)
	clk := &manualClock{now: time.Date(2026, 12, 2, 9, 0, 0, 0, time.UTC)}
	cfg := defaultConfig()
	cfg.Brokers = []string{b.Addr()}
	cfg.Spec.Partitions = 3
	cfg.SessionTimeout = 6 * time.Second
	cfg.TickInterval = 20 * time.Millisecond
	cfg.Clock = clk.Now
	cfg.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))

	seqs := sequences()
	require.Len(t, seqs, 4+12+24+24)
	var first, second []*kgo.Record
	shipped := map[string]bool{}
	for i, seq := range seqs {
		order := fmt.Sprintf("order-%02d", i)
		shipped[order] = ships(seq)
		for j, f := range seq {
			r := record(cfg.Topics.Events, order+"-"+f.idSuffix, f.typ, order)
			if j < len(seq)/2 {
				first = append(first, r)
			} else {
				second = append(second, r)
			}
		}
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(b.Addr()), kgo.ProducerLinger(0))
	require.NoError(t, err)
	t.Cleanup(cl.Close)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()

	// First half, then a restart: the second instance knows the first half
	// only from the changelog.
	p1 := start(t, cfg)
	require.NoError(t, cl.ProduceSync(ctx, first...).FirstErr())
	waitAccounted(t, p1.p, int64(len(first)))
	p1.stop(t)

	p2 := start(t, cfg)
	require.NoError(t, cl.ProduceSync(ctx, second...).FirstErr())
	waitAccounted(t, p2.p, int64(len(second)))
	cmds := commands(t, b.Addr(), cfg.Topics.Commands)
	for order, ship := range shipped {
		if ship {
			require.Len(t, cmds[order], 1, "order %s: one ShipOrder before the deadline", order)
			require.Equal(t, "ShipOrder", cmds[order][0].Type)
			require.Equal(t, commandID("ShipOrder", order), cmds[order][0].CommandID)
			require.True(t, strings.HasPrefix(cmds[order][0].CausationID, order+"-"), "causation is the order's event")
		} else {
			require.Empty(t, cmds[order], "order %s is not placed and paid", order)
		}
	}

	// The deadline passes: every order that did not ship is cancelled, by a
	// timer, in a paused-input instance (no events arrive).
	clk.Advance(31 * time.Minute)
	want := int64(0)
	for _, ship := range shipped {
		if !ship {
			want++
		}
	}
	eventually(t, "cancellations committed", func() bool { clk.Advance(time.Second); return p2.p.Stats().Expired.Load() == want })
	// A late payment for a cancelled order changes nothing.
	late := ""
	for order, ship := range shipped {
		if !ship {
			late = order
			break
		}
	}
	require.NoError(t, cl.ProduceSync(ctx, record(cfg.Topics.Events, late+"-late", PaymentReceived, late)).FirstErr())
	eventually(t, "late payment skipped", func() bool { return p2.p.Stats().SkippedTerminal.Load() >= 1 })

	cmds = commands(t, b.Addr(), cfg.Topics.Commands)
	for order, ship := range shipped {
		require.Len(t, cmds[order], 1, "order %s: exactly one command in all", order)
		c := cmds[order][0]
		if ship {
			require.Equal(t, "ShipOrder", c.Type, order)
		} else {
			require.Equal(t, "CancelOrder", c.Type, order)
			require.Equal(t, commandID("CancelOrder", order), c.CommandID)
			require.Empty(t, c.CausationID, "a timer has no causing event")
		}
	}
	require.Len(t, cmds, len(shipped), "commands only for the test's orders")

	// The state an operator would query: from memory on the owner.
	snap, ok, err := p2.p.Get(ctx, late)
	require.NoError(t, err)
	require.True(t, ok)
	require.Equal(t, "cancelled", snap.Status)
}

func record(topic, id, typ, order string) *kgo.Record {
	v, _ := json.Marshal(event{ID: id, Type: typ, OrderID: order})
	return &kgo.Record{Topic: topic, Key: []byte(order), Value: v}
}

type running struct {
	p      *processor.Processor[Shipment]
	cancel context.CancelFunc
	done   chan error
}

func start(t *testing.T, cfg processor.Config) *running {
	t.Helper()
	p, err := processor.New(cfg, definition())
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	r := &running{p: p, cancel: cancel, done: make(chan error, 1)}
	go func() { r.done <- p.Run(ctx) }()
	t.Cleanup(func() { r.stop(t) })
	return r
}

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
	case <-time.After(time.Minute):
		t.Fatal("processor did not stop within a minute")
	}
}

// waitAccounted waits until every one of n records was applied or skipped
// as a duplicate, in committed transactions.
func waitAccounted(t *testing.T, p *processor.Processor[Shipment], n int64) {
	t.Helper()
	s := p.Stats()
	eventually(t, fmt.Sprintf("%d records accounted", n), func() bool {
		return s.Applied.Load()+s.SkippedDuplicate.Load()+s.SkippedTerminal.Load() == n
	})
	require.Zero(t, s.DeadLettered.Load())
}

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// commands reads the commands topic read_committed to its stable end and
// groups the commands by order.
func commands(t *testing.T, brokers, topic string) map[string][]Command {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers), kgo.ConsumeTopics(topic),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.KeepControlRecords()) // the stable end is past the last commit marker
	require.NoError(t, err)
	defer cl.Close()
	ends, err := kadm.NewClient(cl).ListCommittedOffsets(ctx, topic)
	require.NoError(t, err)
	want := map[int32]int64{}
	ends.Each(func(o kadm.ListedOffset) {
		if o.Offset > 0 {
			want[o.Partition] = o.Offset
		}
	})
	out := map[string][]Command{}
	for len(want) > 0 {
		fs := cl.PollFetches(ctx)
		require.NoError(t, ctx.Err(), "reading %s: still waiting for %v", topic, want)
		fs.EachRecord(func(r *kgo.Record) {
			if r.Offset+1 >= want[r.Partition] {
				delete(want, r.Partition)
			}
			if r.Attrs.IsControl() {
				return
			}
			var c Command
			require.NoError(t, json.Unmarshal(r.Value, &c))
			require.Equal(t, string(r.Key), c.OrderID, "command keyed by its order")
			out[c.OrderID] = append(out[c.OrderID], c)
		})
	}
	return out
}
