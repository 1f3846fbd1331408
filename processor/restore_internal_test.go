package processor

import (
	"context"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/catering-match/catering-match/internal/embedded"
	"github.com/catering-match/catering-match/state"
)

// TestRestoreTracksDueAndTally: the due queue and the status tally a
// session's restore builds are exactly the ones built afterwards from the
// restored store (the reference below, which reads every process back out
// of the store), on a changelog with several versions of a key,
// tombstones, and keys re-created after their tombstone.
func TestRestoreTracksDueAndTally(t *testing.T) {
	b, err := embedded.StartAnyPort(embedded.Options{})
	require.NoError(t, err)
	t.Cleanup(b.Close)
	cl, err := kgo.NewClient(kgo.SeedBrokers(b.Addr()), kgo.DefaultProduceTopic("cl"))
	require.NoError(t, err)
	t.Cleanup(cl.Close)
	ctx := context.Background()
	_, err = kadm.NewClient(cl).CreateTopic(ctx, 1, 1, nil, "cl")
	require.NoError(t, err)

	limits := state.DefaultLimits()
	limits.Retention = time.Hour
	m, err := state.NewCatering(limits)
	require.NoError(t, err)
	status := func(o state.Order) string { return o.Status.String() }

	rng := rand.New(rand.NewPCG(7, 7))
	t0 := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	var recs []*kgo.Record
	for i := range 400 {
		key := fmt.Sprintf("order-%03d", i)
		var h []state.Entry
		for v := range 1 + rng.IntN(4) {
			at := state.StampOf(t0.Add(time.Duration(i*10+v) * time.Second))
			switch rng.IntN(6) {
			case 0:
				recs = append(recs, &kgo.Record{Key: []byte(key)}) // tombstone
				h = nil
				continue
			case 1:
				h = append(h, state.Entry{ID: fmt.Sprintf("d-%d-%d", i, v), Type: state.ConfirmOrderIssued, Ref: "m1", At: at})
			default:
				h = append(h, state.Entry{ID: fmt.Sprintf("e-%d-%d", i, v), Type: state.CustomerConfirmedMenu, Ref: "m1", At: at})
			}
			recs = append(recs, &kgo.Record{Key: []byte(key), Value: ProcessRecord.Encode(key, h)})
		}
	}
	require.NoError(t, cl.ProduceSync(ctx, recs...).FirstErr())

	for _, summarized := range []bool{false, true} {
		t.Run(fmt.Sprintf("summary=%v", summarized), func(t *testing.T) {
			def := Definition[state.Order]{Process: state.Catering(), Status: status,
				Decode: func(*kgo.Record) (string, state.Entry, error) { return "", state.Entry{}, nil }}
			if summarized {
				def.Summary = func(h []state.Entry) (string, bool) {
					st := state.StatusOf(h)
					return st.String(), st != state.Pending
				}
			}
			def, err := def.WithDefaults()
			require.NoError(t, err)
			checkRestoreTracks(t, cl, m, def, limits, recs)
		})
	}
}

// checkRestoreTracks restores partition 0 of "cl" with def's Summary and
// compares the tally and due queue with the ones built from the store.
func checkRestoreTracks(t *testing.T, cl *kgo.Client, m *state.Manager[state.Order], def Definition[state.Order], limits state.Limits, recs []*kgo.Record) {
	status := def.Status
	r := newRestorer(cl, "cl", ProcessRecord, m, nil)
	r.summary = def.Summary
	res, err := r.restore(context.Background(), 0)
	require.NoError(t, err)
	require.EqualValues(t, len(recs), res.records)

	// The reference: from the restored store, one entry per process.
	wantTally := map[string]int{}
	want := map[queued]bool{}
	for key, proc := range res.store.All() {
		wantTally[status(proc.State)]++
		if e, ended, ok := nextDue(m, key, proc.History, proc.State); ok {
			want[queued{e, ended}] = true
		}
	}
	require.NotEmpty(t, want)
	gotTally := map[string]int{}
	for _, c := range res.tally {
		if c.n != 0 {
			gotTally[c.status] = c.n
		}
	}
	require.Equal(t, wantTally, gotTally)

	got := map[queued]bool{}
	for _, ended := range []bool{false, true} {
		for _, e := range *res.due.heapOf(ended) {
			got[queued{e, ended}] = true
		}
	}
	for e := range want {
		require.True(t, got[e], "the restore's due queue lacks %+v", e)
		delete(got, e)
	}
	// The restore queues the newest record of each key only: nothing stale.
	require.Empty(t, got, "entries the restored processes do not have")
	require.Equal(t, len(want), res.due.Len())
	// Both heaps are heaps.
	for _, h := range []dueHeap{res.due.deadlines, res.due.ends} {
		for i := 1; i < len(h); i++ {
			require.LessOrEqual(t, h[(i-1)/2].at, h[i].at)
		}
	}
}

// nextDue is when the clock next matters to a process of key with this
// history and state: its deadline while pending, the end of its retention
// once terminal (ended).
func nextDue[S any](m *state.Manager[S], key string, history []state.Entry, s S) (e dueEntry, ended, ok bool) {
	at, ended, ok := m.Due(history, s)
	if !ok {
		return dueEntry{}, false, false
	}
	return dueEntry{at: int64(at), hash: state.KeyHash(key)}, ended, true
}
