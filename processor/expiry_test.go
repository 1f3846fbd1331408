package processor_test

import (
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/catering-match/catering-match/state"
	"github.com/catering-match/catering-match/topics"
)

// manualClock is a processing-time clock that moves only when told to.
type manualClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *manualClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *manualClock) Advance(d time.Duration) time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
	return c.now
}

type historyLine struct{ id, typ, menu string }

// changelogHistory returns the latest changelog record for key: its history
// (nil for a tombstone) and whether there is a record at all.
func changelogHistory(t *testing.T, addr string, names topics.Names, key string) ([]state.Entry, bool) {
	t.Helper()
	r, ok := latestChangelog(t, addr, names, 3)[key]
	if !ok {
		return nil, false
	}
	if r.Value == nil {
		return nil, true
	}
	id, hist, err := topics.DecodeProcess(r.Key, r.Value)
	require.NoError(t, err)
	require.Equal(t, key, id)
	return hist, true
}

func lines(h []state.Entry) []historyLine {
	out := make([]historyLine, len(h))
	for i, e := range h {
		out[i] = historyLine{e.ID, e.Type, e.Ref}
	}
	return out
}

// TestDeadlineAndRetention drives the processing-time clock: a half order
// expires after the match timeout (no command, later events are terminal),
// terminal processes are tombstoned after retention, and an event for a
// forgotten key starts a new process.
func TestDeadlineAndRetention(t *testing.T) {
	b := startBroker(t, "")
	addr := b.Addr()
	names := testNames(t)
	t0 := time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)
	clk := &manualClock{now: t0}
	cfg := testConfig(t, addr, names)
	cfg.Clock = clk.Now
	cfg.TickInterval = 50 * time.Millisecond
	cfg.Limits = state.Limits{Timeout: time.Hour, Retention: 2 * time.Hour, MaxHistory: 1000}
	r := start(t, cfg)
	waitForTopics(t, addr, names)
	st := r.p.Stats()
	send := func(recs ...*kgo.Record) {
		t.Helper()
		for _, rec := range recs {
			rec.Topic = names.Events
		}
		produce(t, addr, recs...)
	}
	commands := func() []topics.ConfirmOrder {
		t.Helper()
		var out []topics.ConfirmOrder
		for _, rec := range readAll(t, addr, names.Commands) {
			c, err := topics.DecodeConfirmOrder(rec.Value)
			require.NoError(t, err)
			out = append(out, c)
		}
		return out
	}

	// A half order ("half") and a matched one ("done"), both at t0.
	send(event("h1", state.CustomerConfirmedMenu, "half", "a"),
		event("d1", state.CustomerConfirmedMenu, "done", "a"),
		event("d2", state.CatererConfirmedMenu, "done", "a"))
	eventually(t, 60*time.Second, "3 events applied", func() bool { return st.Applied.Load() == 3 })
	require.EqualValues(t, 1, st.CommandsIssued.Load())
	hist, _ := changelogHistory(t, addr, names, "half")
	require.Equal(t, []historyLine{{"h1", state.CustomerConfirmedMenu, "a"}}, lines(hist))
	require.True(t, hist[0].At == state.StampOf(t0), "at is the processing time: want %v got %v", t0, hist[0].At)

	// Just before the deadline nothing happens.
	clk.Advance(time.Hour - time.Second)
	time.Sleep(500 * time.Millisecond) // ticks run (nothing may happen: no wall-clock assertion)
	require.Zero(t, st.Expired.Load(), "expired before its deadline")

	// Past the deadline: expired, visible in the changelog, no command.
	expiredAt := clk.Advance(2 * time.Second)
	eventually(t, 60*time.Second, "the half order expired", func() bool { return st.Expired.Load() == 1 })
	hist, _ = changelogHistory(t, addr, names, "half")
	require.Len(t, hist, 2)
	require.Equal(t, historyLine{"h1", state.CustomerConfirmedMenu, "a"}, lines(hist)[0])
	require.Equal(t, state.MatchExpired, hist[1].Type)
	require.False(t, hist[1].At.Time().Before(t0.Add(time.Hour)), "expired at %v, before the deadline", hist[1].At)
	require.False(t, hist[1].At.Time().After(expiredAt))
	require.Len(t, commands(), 1)

	// The matching caterer event arrives too late: terminal, no command.
	send(event("h2", state.CatererConfirmedMenu, "half", "a"))
	eventually(t, 60*time.Second, "the late event skipped", func() bool { return st.SkippedTerminal.Load() == 1 })
	require.EqualValues(t, 1, st.CommandsIssued.Load())
	require.EqualValues(t, 3, st.Applied.Load())
	cmds := commands()
	require.Len(t, cmds, 1)
	require.Equal(t, "done", cmds[0].OrderID)
	hist, _ = changelogHistory(t, addr, names, "half")
	require.Len(t, hist, 2, "a terminal process does not change")

	// Past retention of both terminal processes: tombstones, forgotten.
	// ("done" ended at t0, "half" at about t0+1h.)
	clk.Advance(time.Hour + 30*time.Minute) // t0+2h30m: only "done" is due
	eventually(t, 60*time.Second, "the matched order forgotten", func() bool { return st.Forgotten.Load() == 1 })
	hist, ok := changelogHistory(t, addr, names, "done")
	require.True(t, ok)
	require.Nil(t, hist, "tombstone for the matched order")
	hist, _ = changelogHistory(t, addr, names, "half")
	require.Len(t, hist, 2, "the expired order is kept for its retention")

	clk.Advance(time.Hour) // t0+3h30m: past "half"'s retention
	eventually(t, 60*time.Second, "the expired order forgotten", func() bool { return st.Forgotten.Load() == 2 })
	hist, ok = changelogHistory(t, addr, names, "half")
	require.True(t, ok)
	require.Nil(t, hist, "tombstone for the expired order")

	// After that, an event for the key starts a new process: even a resent
	// id is new again (the documented limit of deduplication).
	now := clk.Now()
	send(event("h1", state.CustomerConfirmedMenu, "half", "a"))
	eventually(t, 60*time.Second, "a new process", func() bool { return st.Applied.Load() == 4 })
	hist, _ = changelogHistory(t, addr, names, "half")
	require.Equal(t, []historyLine{{"h1", state.CustomerConfirmedMenu, "a"}}, lines(hist))
	require.True(t, hist[0].At == state.StampOf(now))

	// The new process can match; its deadline counts from its own start.
	send(event("h3", state.CatererConfirmedMenu, "half", "a"))
	eventually(t, 60*time.Second, "the new process matched", func() bool { return st.CommandsIssued.Load() == 2 })
	byOrder := map[string]topics.ConfirmOrder{}
	for _, c := range commands() {
		require.NotContains(t, byOrder, c.OrderID, "one command per process")
		byOrder[c.OrderID] = c
	}
	require.Len(t, byOrder, 2)
	require.Equal(t, "h3", byOrder["half"].CausationID)
	require.Equal(t, state.CommandID("half"), byOrder["half"].CommandID)
	require.Equal(t, "d2", byOrder["done"].CausationID)
	require.EqualValues(t, 1, st.Expired.Load())
}

// TestDeadlineFoundByArrivingEvent checks rule 6 when no tick has run yet:
// an event for a process past its deadline records the expiry first and is
// then skipped as terminal, so a late match issues nothing.
func TestDeadlineFoundByArrivingEvent(t *testing.T) {
	b := startBroker(t, "")
	addr := b.Addr()
	names := testNames(t)
	t0 := time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)
	clk := &manualClock{now: t0}
	cfg := testConfig(t, addr, names)
	cfg.Clock = clk.Now
	cfg.TickInterval = 10000 * time.Hour // no tick during the test
	cfg.Limits = state.Limits{Timeout: time.Hour, Retention: 2 * time.Hour, MaxHistory: 1000}
	r := start(t, cfg)
	waitForTopics(t, addr, names)
	st := r.p.Stats()
	send := func(rec *kgo.Record) {
		t.Helper()
		rec.Topic = names.Events
		produce(t, addr, rec)
	}

	send(event("l1", state.CustomerConfirmedMenu, "late", "a"))
	eventually(t, 60*time.Second, "the first event applied", func() bool { return st.Applied.Load() == 1 })
	clk.Advance(time.Hour) // the deadline itself: expired from here on
	send(event("l2", state.CatererConfirmedMenu, "late", "a"))
	eventually(t, 60*time.Second, "the late event skipped", func() bool { return st.SkippedTerminal.Load() == 1 })
	require.EqualValues(t, 1, st.Expired.Load())
	require.EqualValues(t, 1, st.Applied.Load())
	require.Zero(t, st.CommandsIssued.Load())
	require.Empty(t, readAll(t, addr, names.Commands))
	hist, _ := changelogHistory(t, addr, names, "late")
	require.Len(t, hist, 2)
	require.Equal(t, "l1", hist[0].ID)
	require.Equal(t, state.MatchExpired, hist[1].Type)
}
