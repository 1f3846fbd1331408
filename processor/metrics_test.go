package processor_test

import (
	"context"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/stretchr/testify/require"

	"github.com/catering-match/catering-match/internal/catering"
	"github.com/catering-match/catering-match/processor"
	"github.com/catering-match/catering-match/state"
)

// TestRuntimeHistograms: event_to_commit_seconds counts every committed
// input record, match_seconds every committed decision, timed on the
// processing clock from the process's first event.
func TestRuntimeHistograms(t *testing.T) {
	b := startBroker(t, "")
	names := testNames(t)
	cfg := testConfig(t, b.Addr(), names)
	cfg.Namespace = "pm_test"
	reg := prometheus.NewRegistry()
	cfg.Registerer = reg
	clk := &manualClock{now: time.Date(2026, 12, 2, 2, 0, 0, 0, time.UTC)}
	cfg.Clock = clk.Now
	r := start(t, cfg)
	st := r.p.Stats()

	send := func(id, typ string) {
		ev := event(id, typ, "42", "menu-a")
		ev.Topic = names.Events
		produce(t, b.Addr(), ev)
	}
	send("e1", state.CustomerConfirmedMenu)
	eventually(t, 30*time.Second, "first event applied", func() bool { return st.Applied.Load() == 1 })
	clk.Advance(90 * time.Second)
	send("e2", state.CatererConfirmedMenu)
	eventually(t, 30*time.Second, "the match committed", func() bool { return st.CommandsIssued.Load() == 1 })

	hist := func(name string) *dto.Histogram {
		mfs, err := reg.Gather()
		require.NoError(t, err)
		for _, mf := range mfs {
			if mf.GetName() == name {
				return mf.GetMetric()[0].GetHistogram()
			}
		}
		t.Fatalf("no metric %s", name)
		return nil
	}
	require.EqualValues(t, 2, hist("pm_test_event_to_commit_seconds").GetSampleCount(), "one observation per committed input record")
	m := hist("pm_test_match_seconds")
	require.EqualValues(t, 1, m.GetSampleCount(), "one observation per committed decision")
	require.InDelta(t, 90, m.GetSampleSum(), 1e-9, "first event to decision, on the processing clock")
}

// TestLiveGaugesMatchAScan: live_processes and oldest_pending_age_seconds,
// which a scrape reads from counts kept at each commit and from the
// deadline heap, equal what a scan of every process gives, after matches,
// declines, duplicates, expiries at the deadline, and after a restore.
func TestLiveGaugesMatchAScan(t *testing.T) {
	b := startBroker(t, "")
	names := testNames(t)
	cfg := testConfig(t, b.Addr(), names)
	cfg.Namespace = "pm_live"
	cfg.Limits.Timeout = time.Hour
	cfg.TickInterval = 20 * time.Millisecond
	clk := &manualClock{now: time.Date(2026, 12, 2, 2, 0, 0, 0, time.UTC)}
	cfg.Clock = clk.Now

	check := func(r *running, reg *prometheus.Registry) {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		snaps, err := r.p.List(ctx, func(processor.Snapshot[state.Order]) bool { return true })
		require.NoError(t, err)
		want := map[string]float64{}
		for _, st := range catering.Definition().Statuses {
			want[st] = 0
		}
		var oldest time.Time
		for _, s := range snaps {
			want[s.Status]++
			if s.Deadline != nil && (oldest.IsZero() || s.Process.History[0].At.Time().Before(oldest)) {
				oldest = s.Process.History[0].At.Time()
			}
		}
		wantAge := 0.0
		if !oldest.IsZero() {
			wantAge = clk.Now().Sub(oldest).Seconds()
		}
		mfs, err := reg.Gather()
		require.NoError(t, err)
		got := map[string]float64{}
		gotAge := -1.0
		for _, mf := range mfs {
			switch mf.GetName() {
			case "pm_live_live_processes":
				for _, m := range mf.GetMetric() {
					got[m.GetLabel()[0].GetValue()] = m.GetGauge().GetValue()
				}
			case "pm_live_oldest_pending_age_seconds":
				gotAge = mf.GetMetric()[0].GetGauge().GetValue()
			}
		}
		require.Equal(t, want, got, "live_processes by status against a scan of %d processes", len(snaps))
		require.InDelta(t, wantAge, gotAge, 1e-6, "oldest_pending_age_seconds against a scan")
	}
	send := func(id, typ, order, menu string) {
		ev := event(id, typ, order, menu)
		ev.Topic = names.Events
		produce(t, b.Addr(), ev)
	}

	reg := prometheus.NewRegistry()
	cfg.Registerer = reg
	r := start(t, cfg)
	st := r.p.Stats()
	applied := func(n int64) {
		t.Helper()
		eventually(t, 30*time.Second, "events applied", func() bool { return st.Applied.Load() >= n })
	}
	// o1 matches; o2 waits for the caterer; o3 is declined; o4 starts later.
	send("1a", state.CustomerConfirmedMenu, "o1", "m")
	send("1b", state.CatererConfirmedMenu, "o1", "m")
	send("2a", state.CustomerConfirmedMenu, "o2", "m")
	send("3a", state.CatererDeclinedMenu, "o3", "m")
	applied(4)
	check(r, reg)
	clk.Advance(40 * time.Minute)
	send("4a", state.CustomerConfirmedMenu, "o4", "m")
	send("2a", state.CustomerConfirmedMenu, "o2", "m") // a duplicate changes nothing
	applied(5)
	check(r, reg)
	// o2 and o3 reach their deadline; o4 is the oldest pending now.
	clk.Advance(30 * time.Minute)
	eventually(t, 30*time.Second, "two expiries", func() bool { return st.Expired.Load() == 2 })
	check(r, reg)
	// o4, the oldest pending, matches: its deadline entry, at the top of
	// the heap, is stale, and o5 is the oldest pending.
	send("5a", state.CustomerConfirmedMenu, "o5", "m")
	applied(6)
	clk.Advance(5 * time.Minute)
	send("4b", state.CatererConfirmedMenu, "o4", "m")
	applied(7)
	check(r, reg)
	r.stop(t)

	// A restore counts the processes once.
	reg = prometheus.NewRegistry()
	cfg.Registerer = reg
	r = start(t, cfg)
	eventually(t, 30*time.Second, "restored and ready", r.p.Ready)
	check(r, reg)
	r.stop(t)
}
