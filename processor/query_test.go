package processor_test

import (
	"context"
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/catering-match/catering-match/state"
	"github.com/catering-match/catering-match/topics"
)

// TestDeadLettersAndSteps reads the dead letters back from the DLQ topic,
// newest first with their coordinates and kinds, and an order's history
// with the state after each step.
func TestDeadLettersAndSteps(t *testing.T) {
	b := startBroker(t, "")
	names := testNames(t)
	cfg := testConfig(t, b.Addr(), names)
	cfg.Limits.MaxHistory = 2
	r := start(t, cfg)
	p := r.p
	eventually(t, time.Minute, "ready", p.Ready)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	dl, err := p.DeadLetters(ctx, 20)
	require.NoError(t, err)
	require.Equal(t, names.DLQ, dl.Topic)
	require.Len(t, dl.Partitions, 3)
	require.Empty(t, dl.Latest)

	// 30 records with a value that is not JSON, one whose history is
	// full, and one replayed from the DLQ that carries older dlq headers.
	var recs []*kgo.Record
	for i := range 30 {
		recs = append(recs, &kgo.Record{Topic: names.Events, Key: []byte("bad-" + strconv.Itoa(i)), Value: []byte("nope")})
	}
	withEvents := func(rs ...*kgo.Record) []*kgo.Record {
		for _, r := range rs {
			r.Topic = names.Events
		}
		return rs
	}
	// One at a time, so that their timestamps (milliseconds) tell them apart.
	deadLettered := func(n int64) {
		t.Helper()
		eventually(t, time.Minute, fmt.Sprintf("%d dead letters", n), func() bool { return p.Stats().DeadLettered.Load() == n })
		time.Sleep(5 * time.Millisecond)
	}
	produce(t, b.Addr(), recs...)
	deadLettered(30)
	produce(t, b.Addr(), withEvents(
		event("e1", state.CustomerConfirmedMenu, "42", "menu-a"),
		event("e2", state.CatererDeclinedMenu, "42", "menu-a"),
		event("e3", state.CustomerConfirmedMenu, "42", "menu-b"),
	)...)
	deadLettered(31)
	replayed := &kgo.Record{Topic: names.Events, Key: []byte("r1"), Value: []byte(`{"id":"x","type":"CustomerConfirmedMenu","order_id":"r2"}`),
		Headers: []kgo.RecordHeader{{Key: "dlq-reason", Value: []byte("older")}, {Key: "dlq-topic", Value: []byte("elsewhere")},
			{Key: "dlq-partition", Value: []byte("9")}, {Key: "dlq-offset", Value: []byte("99")}}}
	produce(t, b.Addr(), replayed)

	deadLettered(32)
	var got []string
	dl, err = p.DeadLetters(ctx, 20)
	require.NoError(t, err)
	require.Len(t, dl.Latest, 20, "the limit across partitions")
	for i, d := range dl.Latest {
		if i > 0 {
			require.False(t, d.Timestamp.After(dl.Latest[i-1].Timestamp), "newest first")
		}
		got = append(got, string(d.Key))
		require.Equal(t, names.Events, d.Topic, "the last dlq-topic header is the service's")
		require.Equal(t, topics.PartitionFor(string(d.Key), 3), d.SourcePartition)
		require.GreaterOrEqual(t, d.SourceOffset, int64(0))
	}
	require.Equal(t, "r1", got[0], "the newest")
	require.Equal(t, `order_id "r2" differs from record key "r1"`, dl.Latest[0].Reason)
	require.Equal(t, topics.MalformedKeyMismatch, dl.Latest[0].Kind)
	require.Equal(t, "42", got[1])
	require.Equal(t, "process history full", dl.Latest[1].Reason)
	require.Equal(t, "history_full", dl.Latest[1].Kind)
	require.Equal(t, topics.MalformedNotObject, dl.Latest[2].Kind)

	// The latest of one partition, when it holds fewer than asked: all.
	all, err := p.DeadLetters(ctx, 200)
	require.NoError(t, err)
	require.Len(t, all.Latest, 32)
	var ends int64
	for _, part := range all.Partitions {
		ends += part.End - part.Start
	}
	require.Greater(t, ends, int64(32), "the offsets count the transaction markers too")

	steps, ok, err := p.Steps(ctx, "42")
	require.NoError(t, err)
	require.True(t, ok)
	require.Len(t, steps, 2, "the third event went to the DLQ")
	require.Equal(t, "pending", steps[0].Status)
	require.Equal(t, []state.Menu{{ID: "menu-a", Customer: true}}, steps[0].Process.State.Menus)
	require.Equal(t, []state.Menu{{ID: "menu-a", Customer: true, Caterer: state.Declined}}, steps[1].Process.State.Menus)
	require.Equal(t, "memory", steps[1].Source)
	require.NotNil(t, steps[1].Deadline)
	require.Equal(t, steps[0].Process.History[0].At.Time().Add(cfg.Limits.Timeout), *steps[1].Deadline)

	_, ok, err = p.Steps(ctx, "never")
	require.NoError(t, err)
	require.False(t, ok)

	lag, err := p.Lag(ctx)
	require.NoError(t, err)
	for part, n := range lag {
		require.Zero(t, n, fmt.Sprintf("partition %d is caught up", part))
	}
}
