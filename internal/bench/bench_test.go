package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"math"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/catering-match/catering-match/state"
	"github.com/catering-match/catering-match/topics"
)

// A small run on the embedded broker: every figure is populated and
// coherent. Wall-clock targets are never asserted: they depend on the
// machine (and the race detector). MinPhase is lowered so that it stays
// fast.
func TestRunSmall(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	var progress bytes.Buffer
	res, err := Run(ctx, Options{
		Orders:           300,
		Partitions:       3,
		Runs:             2,
		MinPhase:         50 * time.Millisecond,
		MembersScan:      []int{1, 2},
		LatencyRate:      2000,
		LatencyDuration:  300 * time.Millisecond,
		RestoreProcesses: 3000,
		MemoryProcesses:  3000,
		Seed:             42,
	}, &progress)
	require.NoError(t, err)
	var text bytes.Buffer
	require.NoError(t, res.WriteText(&text))
	t.Logf("progress:\n%s\nresults:\n%s", progress.String(), text.String())

	require.Contains(t, res.Broker, "embedded kfake 127.0.0.1:")
	require.True(t, res.Embedded)
	require.Equal(t, 2, res.Runs)
	require.Equal(t, 0.05, res.MinPhaseSeconds)
	require.GreaterOrEqual(t, res.Orders, 300, "at least --orders; grown to last MinPhase")
	require.Equal(t, res.Orders, res.Mix.Match+res.Mix.Duplicate+res.Mix.Decline+res.Mix.NeverMatch)
	require.GreaterOrEqual(t, res.Events, res.Orders)

	tp := res.Throughput
	require.GreaterOrEqual(t, tp.Calibration.Events, int64(300), "the calibration pass runs on --orders orders")
	require.Positive(t, tp.Calibration.EventsPerSec)
	require.Positive(t, tp.Calibration.CopyRecordsPerSec)
	require.Len(t, tp.Runs, 2)
	require.Len(t, tp.Baseline.Runs, 2)
	for _, e := range tp.Runs {
		require.GreaterOrEqual(t, e.Seconds, 0.05, "a run shorter than MinPhase is redone")
		require.EqualValues(t, e.Records, e.Applied+e.SkippedDuplicate+e.SkippedTerminal+e.SkippedOtherType+e.DeadLettered)
		require.Zero(t, e.DeadLettered)
		require.Positive(t, e.CommandsExpected)
		require.Equal(t, e.CommandsExpected, e.CommandsIssued, "the processor issues what the model says")
		require.LessOrEqual(t, e.StartupSeconds, e.Seconds)
	}
	// Events is the input as it stood at the end: the scaling scan, which
	// runs after the throughput runs, may have grown it too.
	var final int64
	for _, e := range tp.Runs {
		final = max(final, e.Records)
	}
	for _, pt := range res.Scaling.Points {
		for _, e := range pt.Runs {
			final = max(final, e.Records)
		}
	}
	require.EqualValues(t, res.Events, final)
	for _, c := range tp.Baseline.Runs {
		require.GreaterOrEqual(t, c.Seconds, 0.05)
		require.Positive(t, c.RecordsPerSec)
	}
	require.Len(t, tp.EventsPerSec.Runs, 2)
	require.Len(t, tp.Ratio.Runs, 2)
	// CPU time per record, on every run of both loops (this is Linux).
	for i, e := range tp.Runs {
		require.Positive(t, e.CPUSeconds, "EOS run %d", i)
		require.Positive(t, tp.Baseline.Runs[i].CPUSeconds, "copy run %d", i)
	}
	require.Len(t, tp.CPURatio.Runs, 2)
	require.Positive(t, tp.CPUMicrosPerEvent.Median)
	require.Positive(t, tp.Baseline.CPUMicrosPerRecord.Median)
	require.Positive(t, tp.Cores.Median)
	for i := range tp.Runs {
		// Ratio = CPURatio × Cores / Baseline.Cores, per pair.
		want := tp.CPURatio.Runs[i] * (tp.Runs[i].CPUSeconds / tp.Runs[i].Seconds) / (tp.Baseline.Runs[i].CPUSeconds / tp.Baseline.Runs[i].Seconds)
		require.InDelta(t, want, tp.Ratio.Runs[i], 1e-9*want)
	}
	require.Contains(t, text.String(), "CPU of this process (the embedded broker's included)")
	for i, r := range tp.Ratio.Runs {
		require.InDelta(t, tp.Runs[i].EventsPerSec/tp.Baseline.Runs[i].RecordsPerSec, r, 1e-9, "ratio per pair")
	}
	require.LessOrEqual(t, tp.Ratio.Min, tp.Ratio.Median)
	require.LessOrEqual(t, tp.Ratio.Median, tp.Ratio.Max)

	sc := res.Scaling
	require.Len(t, sc.Points, 2)
	require.Equal(t, 1, sc.Points[0].Members)
	require.Equal(t, 2, sc.Points[1].Members)
	for _, p := range sc.Points {
		require.Len(t, p.Runs, 2)
		require.Len(t, p.Ratio.Runs, 2)
		for _, e := range p.Runs {
			require.Equal(t, p.Members, e.Members)
			require.Equal(t, 1, e.Workers, "one worker per member in the scan")
			require.GreaterOrEqual(t, e.Seconds, 0.05)
			require.Equal(t, e.CommandsExpected, e.CommandsIssued)
		}
	}
	require.Equal(t, []float64{1, 1}, sc.Points[0].Ratio.Runs, "1 member against itself")

	l := res.Latency
	require.Equal(t, 2000.0, l.RatePerSec)
	require.Len(t, l.Runs, 2)
	require.Len(t, l.Baseline.Runs, 2)
	for i, run := range l.Runs {
		require.GreaterOrEqual(t, run.Seconds, 0.29, "produced for LatencyDuration")
		require.Positive(t, run.Samples)
		require.Equal(t, run.Events, l.Baseline.Runs[i].Samples, "one copy per event")
		for _, p := range []Percentiles{run.Percentiles, l.Baseline.Runs[i].Percentiles} {
			require.Positive(t, p.P50Ms)
			require.LessOrEqual(t, p.P50Ms, p.P99Ms)
			require.LessOrEqual(t, p.P99Ms, p.MaxMs)
		}
		require.Positive(t, run.CommitIntervalMs)
		require.InDelta(t, run.P99Ms/l.Baseline.Runs[i].P99Ms, l.RatioP99.Runs[i], 1e-9)
	}

	rs := res.Restore
	require.GreaterOrEqual(t, rs.Processes, 3000)
	require.Equal(t, rs.Processes, l.Runs[0].Orders+l.Runs[1].Orders+rs.TopUp, "every latency order has a process")
	require.GreaterOrEqual(t, rs.Records, int64(rs.Processes))
	require.Equal(t, rs.Records, rs.Baseline.Records)
	require.Len(t, rs.Runs, 2)
	require.Len(t, rs.Baseline.Runs, 2)
	for i, run := range rs.Runs {
		require.GreaterOrEqual(t, run.Passes, 1)
		require.GreaterOrEqual(t, run.Seconds, 0.05, "passes until MinPhase")
		require.Positive(t, run.HeapBytes)
		raw := rs.Baseline.Runs[i]
		require.GreaterOrEqual(t, raw.Seconds, 0.05)
		require.Equal(t, rs.Records*int64(raw.Passes), raw.Records)
		require.InDelta(t, run.RecordsPerSec/raw.RecordsPerSec, rs.Ratio.Runs[i], 1e-9)
		// CPU time of every pass of all three, and the bound from it.
		require.Positive(t, run.CPUSeconds, "restore run %d", i)
		require.Positive(t, raw.CPUSeconds, "raw read run %d", i)
		df := rs.Floor.Runs[i]
		require.Positive(t, df.CPUSeconds, "decode-and-fold run %d", i)
		require.GreaterOrEqual(t, df.Seconds, 0.05, "passes until MinPhase")
		require.Equal(t, rs.Records*int64(df.Passes), df.Records, "every record, every pass")
		perRecord := 1e6*raw.CPUSeconds/float64(raw.Records) + 1e6*df.CPUSeconds/float64(df.Records)
		want := float64(res.GOMAXPROCS) / perRecord * 1e6 / raw.RecordsPerSec
		require.InDelta(t, want, rs.Bound.Runs[i], 1e-9*want)
	}
	require.Len(t, rs.Bound.Runs, 2)
	require.Contains(t, text.String(), "decode and fold only, from memory")
	require.Contains(t, byName(res.Targets)["restore"].Note, "bound ")

	m := res.Memory
	require.Equal(t, 3000, m.Processes)
	require.Len(t, m.BytesPerProcess.Runs, 2)
	require.Positive(t, m.BytesPerProcess.Median)

	names := map[string]Target{}
	for _, tg := range res.Targets {
		names[tg.Name] = tg
	}
	require.Len(t, names, 6)
	require.False(t, names["restore heap (1M processes)"].Checked, "only checked at a million processes")
	for _, n := range []string{"throughput", "latency p99", "memory", "scaling: >1 core used"} {
		require.True(t, names[n].Checked, n)
	}
	require.Equal(t, 5.0, names["latency p99"].Limit, "embedded broker")

	// Progress: not a terminal, so lines and no carriage returns.
	out := progress.String()
	require.NotContains(t, out, "\r")
	require.Contains(t, out, "EOS throughput 1/2: start, ")
	require.Contains(t, out, "EOS throughput 2/2: end, ")
	require.Contains(t, out, "EOS members=2 2/2: end, ")
	require.Contains(t, out, "restore 2/2: end, ")
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		require.True(t, strings.HasPrefix(line, "bench "), "%q", line)
	}
	require.Contains(t, text.String(), "TARGET")
	require.Contains(t, text.String(), "MEMBERS")

	var back Results
	var js bytes.Buffer
	require.NoError(t, res.WriteJSON(&js))
	require.NoError(t, json.Unmarshal(js.Bytes(), &back))
	require.Equal(t, res.Throughput, back.Throughput)
	require.Equal(t, res.Scaling, back.Scaling)
}

// TestRunPhases: a run of some phases takes only their measures and
// checks only their targets; scaling alone publishes its own input.
func TestRunPhases(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	res, err := Run(ctx, Options{
		Orders: 200, Partitions: 2, Runs: 1, MinPhase: 50 * time.Millisecond, MembersScan: []int{1, 2},
		RestoreProcesses: 2000, Seed: 7, Phases: []string{"scaling", "restore"},
	}, io.Discard)
	require.NoError(t, err)
	require.Equal(t, []string{"scaling", "restore"}, res.Phases)
	require.Empty(t, res.Throughput.Runs)
	require.Empty(t, res.Latency.Runs)
	require.Empty(t, res.Memory.BytesPerProcess.Runs)
	require.Len(t, res.Scaling.Points, 2)
	require.Len(t, res.Restore.Runs, 1)
	require.Equal(t, 2000, res.Restore.Processes, "the changelog is all synthetic processes")
	checked := map[string]bool{}
	for _, tg := range res.Targets {
		checked[tg.Name] = tg.Checked
	}
	require.Equal(t, map[string]bool{"throughput": false, "latency p99": false, "restore": true, "memory": false,
		"restore heap (1M processes)": false, "scaling: >1 core used": true}, checked)
	var text bytes.Buffer
	require.NoError(t, res.WriteText(&text))
	require.Contains(t, text.String(), "phases: scaling, restore only")
	require.NotContains(t, text.String(), "latency p50")
	require.NotContains(t, text.String(), "heap per pending process")
}

func TestWorkloadMix(t *testing.T) {
	wl, err := newWorkload("o", 2000, 0, 7, 1)
	require.NoError(t, err)
	require.GreaterOrEqual(t, wl.orders, 2000)
	require.Equal(t, wl.orders, wl.mix.Match+wl.mix.Duplicate+wl.mix.Decline+wl.mix.NeverMatch)
	require.Greater(t, wl.mix.Match, wl.orders/2, "most orders match")
	for _, n := range []int{wl.mix.Duplicate, wl.mix.Decline, wl.mix.NeverMatch} {
		require.Positive(t, n)
	}
	require.Len(t, wl.causes, wl.commands)
	for id, i := range wl.causes {
		require.GreaterOrEqual(t, i, 0, "cause %s placed", id)
		require.Contains(t, string(wl.events[i].value), id)
	}
	// Each order's events are in order: a customer confirmation precedes
	// the duplicate of itself, and every order id appears.
	seen := map[string]bool{}
	for _, e := range wl.events {
		seen[string(e.key)] = true
		require.True(t, strings.HasPrefix(string(e.key), "o-"))
	}
	require.Len(t, seen, wl.orders)

	// Reproducible.
	again, err := newWorkload("o", 2000, 0, 7, 1)
	require.NoError(t, err)
	require.Equal(t, wl.events, again.events)
	require.Equal(t, wl.commands, again.commands)
}

func TestEOSInputCycles(t *testing.T) {
	a, err := newWorkload("a", 10, 0, 7, 1)
	require.NoError(t, err)
	b, err := newWorkload("b", 10, 0, 7, 2)
	require.NoError(t, err)
	in := eosInput{wls: []*workload{a, b}, events: int64(len(a.events) + len(b.events))}
	require.Equal(t, a.events[0], in.at(0))
	require.Equal(t, b.events[0], in.at(int64(len(a.events))))
	require.Equal(t, b.events[len(b.events)-1], in.at(in.events-1))
	require.Equal(t, a.events[1], in.at(in.events+1), "cycles")
}

func TestPercentiles(t *testing.T) {
	var d []time.Duration
	for i := 1; i <= 100; i++ {
		d = append(d, time.Duration(101-i)*time.Millisecond)
	}
	p := percentiles(d)
	require.Equal(t, Percentiles{Samples: 100, P50Ms: 50, P99Ms: 99, MaxMs: 100}, p)
	require.Equal(t, Percentiles{}, percentiles(nil))
	require.Equal(t, time.Duration(100)*time.Millisecond, d[0], "input left unsorted")
}

func TestSummarize(t *testing.T) {
	require.Equal(t, Stat{Median: 2, Min: 1, Max: 9, Runs: []float64{9, 1, 2}}, summarize([]float64{9, 1, 2}), "odd: the middle value; runs kept in order")
	require.Equal(t, Stat{Median: 2.5, Min: 1, Max: 9, Runs: []float64{4, 9, 1, 1}}, summarize([]float64{4, 9, 1, 1}), "even: the mean of the two middle values")
	require.Equal(t, Stat{Median: 7, Min: 7, Max: 7, Runs: []float64{7}}, summarize([]float64{7}))
	require.Equal(t, Stat{}, summarize(nil))
	require.Equal(t, Stat{Median: 3, Min: 3, Max: 3, Runs: []float64{3}}, summarize([]float64{math.NaN(), 3, math.Inf(1)}), "JSON cannot carry NaN or Inf")

	in := []float64{3, 1, 2}
	summarize(in)
	require.Equal(t, []float64{3, 1, 2}, in, "input left unsorted")
}

func TestRatios(t *testing.T) {
	require.Equal(t, []float64{2, 0.5}, ratios([]float64{4, 1}, []float64{2, 2}))
	require.Equal(t, []float64{2}, ratios([]float64{4, 1, 5}, []float64{2, 0}), "pairs only; a zero baseline is left out")
	require.Nil(t, ratios(nil, []float64{1}))
	// The median of per-pair ratios, not the ratio of medians: a drift
	// that hits both runs of a pair alike cancels.
	s := summarize(ratios([]float64{100, 200, 50}, []float64{200, 400, 100}))
	require.Equal(t, Stat{Median: 0.5, Min: 0.5, Max: 0.5, Runs: []float64{0.5, 0.5, 0.5}}, s)
}

func TestFmtStat(t *testing.T) {
	f := func(v float64) string { return count(v) }
	require.Equal(t, "1,500 (1,000–2,000)", fmtStat(summarize([]float64{2000, 1000, 1500}), f))
	require.Equal(t, "1,000 (1,000–1,000)", fmtStat(summarize([]float64{1000, 1000}), f), "repeated runs always show their range")
	require.Equal(t, "7", fmtStat(summarize([]float64{7}), f))
	require.Equal(t, "-1,234", count(-1234))
}

func stat(xs ...float64) Stat { return summarize(xs) }

// results that meet every target, on the embedded broker, at 1M processes.
func passing() Results {
	return Results{
		Embedded:   true,
		GOMAXPROCS: 2,
		GC:         GCSettings{GOGC: 100, Default: true},
		Throughput: Throughput{Ratio: stat(0.7, 0.65, 0.8)},
		Latency:    Latency{RatioP99: stat(4, 6, 3)},
		Restore: Restore{Ratio: stat(0.7, 0.9, 0.8), Processes: 1_000_000, HeapBytes: stat(1 << 30),
			HeapBytesPerProcess: stat(1 << 30 / 1e6)},
		Memory:  Memory{BytesPerProcess: stat(390, 401, 399)},
		Scaling: Scaling{Points: []ScalingPoint{{Members: 1, Ratio: stat(1, 1, 1)}, {Members: 2, Ratio: stat(1.3, 1.1, 1.25)}}},
	}
}

func byName(ts []Target) map[string]Target {
	m := map[string]Target{}
	for _, t := range ts {
		m[t.Name] = t
	}
	return m
}

func TestTargetsMet(t *testing.T) {
	r := passing()
	ts := targets(r)
	require.Len(t, ts, 6)
	for _, tg := range ts {
		require.True(t, tg.Checked, tg.Name)
		require.True(t, tg.Met, "%s: %v %s %v", tg.Name, tg.Value, tg.Op, tg.Limit)
	}
	m := byName(ts)
	require.Equal(t, Target{Name: "throughput", Metric: m["throughput"].Metric, Value: 0.7, Min: 0.65, Max: 0.8, Op: ">=", Limit: 0.6, Checked: true, Met: true}, m["throughput"],
		"the median is checked; min and max ride along")
	require.Equal(t, 5.0, m["latency p99"].Limit)
	require.Equal(t, 1.25, m["scaling: >1 core used"].Value)
	require.Equal(t, ">", m["scaling: >1 core used"].Op)
	require.Equal(t, "met (checked at 1,000,000 processes)", verdict(m["restore heap (1M processes)"]))
	require.True(t, Results{Targets: ts}.AllMet())
}

func TestTargetsNotMet(t *testing.T) {
	r := passing()
	r.Throughput.Ratio = stat(0.59, 0.7, 0.5)
	r.Embedded = false // real broker: p99 within 1.5x
	r.Memory.BytesPerProcess = stat(517)
	r.Scaling.Points[1].Ratio = stat(1.2, 1.2, 1.2) // must be above 1.2
	m := byName(targets(r))
	require.False(t, m["throughput"].Met)
	require.Equal(t, 1.5, m["latency p99"].Limit)
	require.Contains(t, m["latency p99"].Metric, "real broker")
	require.False(t, m["latency p99"].Met)
	require.False(t, m["memory"].Met)
	require.False(t, m["scaling: >1 core used"].Met)
	require.True(t, m["restore"].Met)
	require.Equal(t, "NOT MET", verdict(m["memory"]))

	big := passing()
	big.Restore.HeapBytes = stat(3 << 30)
	require.Equal(t, "NOT MET (checked at 1,000,000 processes)", verdict(byName(targets(big))["restore heap (1M processes)"]),
		"a checked heap row says it was checked either way")
	require.False(t, Results{Targets: targets(r)}.AllMet())
}

func TestTargetsNotChecked(t *testing.T) {
	r := passing()
	r.Restore.Processes = 225_313
	r.Restore.HeapBytesPerProcess = stat(597)
	r.GC = GCSettings{GOGC: 400}
	r.Scaling = Scaling{}
	m := byName(targets(r))

	h := m["restore heap (1M processes)"]
	require.False(t, h.Checked)
	require.False(t, h.Met)
	require.Equal(t, "NOT CHECKED: 225,313 processes restored, not 1,000,000 (run with --restore-processes 1000000); 597 B per process would be 0.56 GiB", verdict(h))

	rs := m["restore"]
	require.False(t, rs.Checked, "the restore target is at Go's default GC")
	require.Contains(t, verdict(rs), "NOT CHECKED: GOGC=400")

	require.False(t, m["scaling: >1 core used"].Checked)
	require.Contains(t, verdict(m["scaling: >1 core used"]), "--members-scan")

	// Unchecked targets do not fail --strict.
	require.True(t, Results{Targets: targets(r)}.AllMet())

	one := passing()
	one.GOMAXPROCS = 1
	require.Contains(t, verdict(byName(targets(one))["scaling: >1 core used"]), "GOMAXPROCS=1")

	none := byName(targets(Results{GC: GCSettings{GOGC: 100, Default: true}}))
	for _, n := range []string{"throughput", "latency p99", "restore", "memory", "restore heap (1M processes)", "scaling: >1 core used"} {
		require.False(t, none[n].Checked, "%s: nothing measured", n)
	}
}

func TestMeets(t *testing.T) {
	for _, tc := range []struct {
		v     float64
		op    string
		limit float64
		want  bool
	}{
		{0.6, ">=", 0.6, true}, {0.59, ">=", 0.6, false},
		{1.2, ">", 1.2, false}, {1.21, ">", 1.2, true},
		{5, "<=", 5, true}, {5.01, "<=", 5, false},
		{2 << 30, "<", 2 << 30, false}, {1, "<", 2, true},
		{1, "?", 2, false},
	} {
		require.Equal(t, tc.want, meets(tc.v, tc.op, tc.limit), "%v %s %v", tc.v, tc.op, tc.limit)
	}
}

func TestWriteText(t *testing.T) {
	r := passing()
	r.Runs, r.MinPhaseSeconds = 3, 2
	r.Restore.Processes = 200_000
	r.Restore.HeapBytesPerProcess = stat(597)
	r.Scaling.Points[0].EventsPerSec = stat(100_000, 90_000, 110_000)
	r.Scaling.Points[1].EventsPerSec = stat(130_000, 100_000, 131_000)
	r.Targets = targets(r)
	var b bytes.Buffer
	require.NoError(t, r.WriteText(&b))
	out := b.String()
	t.Log(out)
	require.NotContains(t, out, "WARNING", "2s phases")
	require.Contains(t, out, "3 runs of each measure, every timed phase >= 2.0s")
	require.Contains(t, out, "MEMBERS")
	require.Contains(t, out, "100,000 (90,000–110,000)")
	require.Contains(t, out, "1.25 (1.10–1.30)")
	require.Regexp(t, `throughput +0\.70 \(0\.65–0\.80\) +>= 0\.60 +met`, out)
	require.Regexp(t, `restore heap \(1M processes\) +1\.00 GiB +< 2\.00 GiB +NOT CHECKED: 200,000 processes restored`, out)
	require.Regexp(t, `scaling: >1 core used +1\.25 \(1\.10–1\.30\) +> 1\.20 +met`, out)

	r.MinPhaseSeconds = 0.05
	b.Reset()
	require.NoError(t, r.WriteText(&b))
	require.Contains(t, b.String(), "WARNING: phases as short as 0.05s")
}

// The non-terminal progress: one line when a phase starts, one with its
// figures when it ends, each with the time since the run began (a fake
// clock here).
func TestProgressLines(t *testing.T) {
	var b bytes.Buffer
	clock := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	p := newProgress(&b, false)
	p.now = func() time.Time { return clock }
	p.began = clock

	var n int64
	clock = clock.Add(1500 * time.Millisecond)
	ph := p.phase("EOS throughput 1/3", 466_000, "events", func() int64 { return n })
	n = 466_000
	clock = clock.Add(2610 * time.Millisecond)
	ph.end("178,543 ev/s, startup 0.01s")
	ph.end("again") // once only
	open := p.phase("raw changelog read 1/3", 0, "records", func() int64 { return 2_400_000 })
	clock = clock.Add(2 * time.Second)
	open.end("")
	p.note("inputs sized for %.1fs runs", 2.5)

	require.Equal(t, ""+
		"bench     1.5s EOS throughput 1/3: start, 466,000 events\n"+
		"bench     4.1s EOS throughput 1/3: end, 466,000/466,000 events in 2.61s; 178,543 ev/s, startup 0.01s\n"+
		"bench     4.1s raw changelog read 1/3: start\n"+
		"bench     6.1s raw changelog read 1/3: end, 2,400,000 records in 2.00s\n"+
		"bench     6.1s inputs sized for 2.5s runs\n", b.String())
}

// On a terminal the bars stay as they were: redrawn with carriage returns,
// ended with a newline, no start or end lines and no notes.
func TestProgressBars(t *testing.T) {
	var b syncBuffer
	p := newProgress(&b, true)
	ph := p.phase("EOS throughput 1/3", 10, "events", func() int64 { return 10 })
	ph.end("figures are not drawn")
	p.note("not drawn either")
	out := b.String()
	require.True(t, strings.HasPrefix(out, "\rEOS throughput 1/3       [==============================] 100% 10/10 "), "%q", out)
	require.True(t, strings.HasSuffix(out, "s\n"), "%q", out)
	require.NotContains(t, out, "figures")
	require.NotContains(t, out, "not drawn")

	var none *progress
	none.phase("x", 1, "y", func() int64 { return 0 }).end("") // nil progress: nothing, no panic
	newProgress(nil, false).phase("x", 1, "y", func() int64 { return 0 }).end("")
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestOptionsValidate(t *testing.T) {
	for _, o := range []Options{
		{Orders: -1}, {Partitions: -2}, {LatencyRate: -1}, {MaxPollRecords: -1}, {RestoreProcesses: -1},
		{Runs: -1}, {MinPhase: -time.Second}, {MembersScan: []int{0}}, {MembersScan: []int{1, 1}}, {Members: -1},
		{MinPhase: 2 * time.Second, LatencyDuration: time.Second},
		{Phases: []string{"restore", "nosuch"}}, {Phases: []string{}}, {Phases: []string{"latency"}},
	} {
		_, err := o.withDefaults()
		require.Error(t, err, "%+v", o)
	}
	o, err := Options{}.withDefaults()
	require.NoError(t, err)
	require.Equal(t, 20000, o.Orders)
	require.Equal(t, int32(6), o.Partitions)
	require.Equal(t, 200000, o.RestoreProcesses)
	require.Equal(t, 3, o.Runs)
	require.Equal(t, 2*time.Second, o.MinPhase)
	require.Equal(t, []int{1, 2, 4}, o.MembersScan)
	require.Equal(t, runtime.GOMAXPROCS(0), o.Members)
	require.Equal(t, 5*time.Second, o.LatencyDuration)
	require.Equal(t, AllPhases, o.Phases)
	_, err = Options{Phases: []string{"latency"}, LatencyRate: 1000}.withDefaults()
	require.NoError(t, err, "latency alone runs at a given rate")

	o, err = Options{MembersScan: []int{}}.withDefaults()
	require.NoError(t, err)
	require.Empty(t, o.MembersScan, "an empty scan skips the phase")
	o, err = Options{MinPhase: 10 * time.Second}.withDefaults()
	require.NoError(t, err)
	require.Equal(t, 10*time.Second, o.LatencyDuration, "the default latency duration is at least MinPhase")
}

// TestCausationID: the probe's shortcut finds what the decoder finds, and
// leaves escaped ids to it.
func TestCausationID(t *testing.T) {
	for _, cause := range []string{"0b6c5f5e-6b1e-4c55-9a52-8f1f3c1e2b7a", "", "e1", `q"x`, `a\b`, "é"} {
		v := topics.EncodeConfirmOrder(state.CommandID("42"), "42", "m", cause, 0)
		id, ok := causationID(v)
		c, err := topics.DecodeConfirmOrder(v)
		require.NoError(t, err)
		if ok {
			require.Equal(t, c.CausationID, string(id), "%s", v)
		} else {
			require.True(t, strings.ContainsAny(cause, `"\`), "only an escaped id is left to the decoder: %s", v)
		}
	}
	_, ok := causationID([]byte(`{"command_id":"x"}`))
	require.False(t, ok)
}
