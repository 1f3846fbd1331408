package processor_test

import (
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/stretchr/testify/require"

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
