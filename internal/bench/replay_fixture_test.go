package bench

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/catering-match/catering-match/state"
	"github.com/catering-match/catering-match/topics"
)

// The changelog fixture of internal/replay's tests is made here, from this
// package's workload generator, because the generator is this package's
// own. Rebuild it (deterministic: the same bytes every time) with
//
//	go test ./internal/bench -run TestReplayFixture -update-replay-fixture
//
// and commit internal/replay/testdata/changelog.jsonl.gz. Its tests count
// on what it holds (see internal/replay's replay_test.go), not on its bytes.
var updateReplayFixture = flag.Bool("update-replay-fixture", false, "rewrite internal/replay/testdata/changelog.jsonl.gz from the workload generator")

const replayFixturePath = "../replay/testdata/changelog.jsonl.gz"

// replayFixtureRecord is one line of the fixture: a changelog record.
type replayFixtureRecord struct {
	Partition int32           `json:"partition"`
	Offset    int64           `json:"offset"`
	Key       string          `json:"key"`
	Value     json.RawMessage `json:"value"` // null: a tombstone
}

// TestReplayFixture writes the changelog the service would have written
// for 3000 of the bench's orders plus 160 orders whose caterer withdraws or
// restores a confirmation (rule 3, which the bench's mix never exercises),
// on 6 partitions. Processing time runs as the service's would: the first
// fifth of the events during one day, the rest two weeks later, in batches
// of 100 events (one record per changed order per batch, as one transaction
// writes), with a tick every hour that expires processes pending for the
// 14-day match timeout and tombstones those decided 7 days (retention)
// before. So the fixture holds confirmed, pending and expired processes,
// tombstones, superseded records, and events that reached an expired
// process.
func TestReplayFixture(t *testing.T) {
	if !*updateReplayFixture {
		t.Skip("rewrites internal/replay's fixture only with -update-replay-fixture")
	}
	const (
		partitions = 6
		seed       = 20260105
		batch      = 100
	)
	limits := state.DefaultLimits()
	m, err := state.NewCatering(limits)
	require.NoError(t, err)

	wl, err := newWorkload("replay", 3000, 0, seed, 1)
	require.NoError(t, err)
	var evs []topics.Event
	for _, e := range wl.events {
		ev, err := topics.DecodeEvent(e.key, e.value)
		require.NoError(t, err)
		evs = append(evs, ev)
	}
	evs = append(evs, withdrawals(newOrderGen(seed, 2), 160)...)

	base := time.Date(2026, 1, 5, 9, 0, 0, 0, time.UTC)
	early := len(evs) / 5
	// Whole seconds keep the fixture small.
	at := func(i int) time.Time {
		if i < early {
			return base.Add(time.Duration(i) * 24 * time.Hour / time.Duration(early)).Truncate(time.Second)
		}
		return base.Add(15*24*time.Hour + time.Duration(i-early)*24*time.Hour/time.Duration(len(evs)-early)).Truncate(time.Second)
	}

	procs := map[string]*state.Process[state.Order]{}
	var offsets [partitions]int64
	var out []replayFixtureRecord
	write := func(key string, p *state.Process[state.Order]) {
		part := topics.PartitionFor(key, partitions)
		r := replayFixtureRecord{Partition: part, Offset: offsets[part], Key: key}
		if p != nil {
			r.Value = topics.EncodeProcess(key, p.History)
		}
		offsets[part]++
		out = append(out, r)
	}
	tick := func(now time.Time) {
		keys := make([]string, 0, len(procs))
		for k := range procs {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys {
			p := procs[k]
			if adv := m.Advance(k, p, now); adv != nil {
				procs[k] = adv.Process
				write(k, adv.Process)
			} else if m.Forget(p, now) {
				delete(procs, k)
				write(k, nil)
			}
		}
	}
	nextTick := base.Add(time.Hour)
	for b := 0; b < len(evs); b += batch {
		now := at(b)
		for ; !nextTick.After(now); nextTick = nextTick.Add(time.Hour) {
			tick(nextTick)
		}
		changed := map[string]bool{}
		for _, ev := range evs[b:min(b+batch, len(evs))] {
			o := m.Apply(procs[ev.OrderID], ev.OrderID, state.Entry{ID: ev.ID, Type: ev.Type, Ref: ev.MenuID}, now)
			if o.Changed() {
				procs[ev.OrderID] = o.Process
				changed[ev.OrderID] = true
			}
		}
		keys := make([]string, 0, len(changed))
		for k := range changed {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys {
			write(k, procs[k])
		}
	}
	tick(nextTick)

	statuses := map[state.Status]int{}
	for _, p := range procs {
		statuses[p.State.Status]++
	}
	for _, s := range []state.Status{state.Pending, state.Confirmed, state.Expired} {
		require.Positive(t, statuses[s], "fixture has %s processes", s)
	}

	// By partition: a key's records are then close enough to each other
	// for gzip's window, which halves the file.
	slices.SortStableFunc(out, func(a, b replayFixtureRecord) int { return int(a.Partition - b.Partition) })
	var buf bytes.Buffer
	zw, err := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	require.NoError(t, err)
	enc := json.NewEncoder(zw)
	enc.SetEscapeHTML(false)
	for _, r := range out {
		require.NoError(t, enc.Encode(r))
	}
	require.NoError(t, zw.Close())
	require.NoError(t, os.WriteFile(replayFixturePath, buf.Bytes(), 0o644))
	t.Logf("wrote %s: %d records, %d bytes; live processes %d (pending %d, confirmed %d, expired %d)",
		replayFixturePath, len(out), buf.Len(), len(procs), statuses[state.Pending], statuses[state.Confirmed], statuses[state.Expired])
}

// withdrawals returns n orders in which the caterer withdraws or restores a
// confirmation (rule 3), merged at random, each order's events in order:
// confirm then decline (pending); then the customer's confirmation of the
// withdrawn menu (pending); then the caterer's confirmation again
// (confirmed); decline, customer, confirm (confirmed).
func withdrawals(g *orderGen, n int) []topics.Event {
	const (
		cust    = state.CustomerConfirmedMenu
		cat     = state.CatererConfirmedMenu
		decline = state.CatererDeclinedMenu
	)
	var orders [][]topics.Event
	for i := range n {
		id := fmt.Sprintf("replay-w-%04d", i)
		mn := g.menu()
		e := func(typ string) topics.Event { return g.event(typ, id, mn) }
		switch i % 4 {
		case 0:
			orders = append(orders, []topics.Event{e(cat), e(decline)})
		case 1:
			orders = append(orders, []topics.Event{e(cat), e(decline), e(cust)})
		case 2:
			orders = append(orders, []topics.Event{e(cat), e(decline), e(cust), e(cat)})
		default:
			orders = append(orders, []topics.Event{e(decline), e(cust), e(cat)})
		}
	}
	var out []topics.Event
	for len(orders) > 0 {
		i := g.rng.IntN(len(orders))
		out = append(out, orders[i][0])
		if orders[i] = orders[i][1:]; len(orders[i]) == 0 {
			orders[i] = orders[len(orders)-1]
			orders = orders[:len(orders)-1]
		}
	}
	return out
}
