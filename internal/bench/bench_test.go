package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// A small run on the embedded broker: every figure is populated and
// coherent. Wall-clock targets are never asserted: they depend on the
// machine (and the race detector).
func TestRunSmall(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	var progress bytes.Buffer
	res, err := Run(ctx, Options{
		Orders:           300,
		Partitions:       3,
		LatencyRate:      2000,
		LatencyDuration:  time.Second,
		RestoreProcesses: 3000,
		MemoryProcesses:  3000,
		Seed:             42,
	}, &progress)
	require.NoError(t, err)
	var text bytes.Buffer
	require.NoError(t, res.WriteText(&text))
	t.Logf("progress:\n%s\nresults:\n%s", progress.String(), text.String())

	require.Contains(t, res.Broker, "embedded kfake 127.0.0.1:")
	require.Equal(t, 300, res.Orders)
	require.Equal(t, 300, res.Mix.Match+res.Mix.Duplicate+res.Mix.Decline+res.Mix.NeverMatch)
	require.GreaterOrEqual(t, res.Events, 300)

	tp := res.Throughput
	require.EqualValues(t, res.Events, tp.Records)
	require.EqualValues(t, tp.Records, tp.Applied+tp.SkippedDuplicate+tp.SkippedTerminal+tp.SkippedOtherType+tp.DeadLettered)
	require.EqualValues(t, res.Mix.Duplicate, tp.SkippedDuplicate, "one duplicate per duplicate order")
	require.Zero(t, tp.DeadLettered)
	require.Positive(t, tp.CommandsExpected)
	require.Equal(t, tp.CommandsExpected, tp.CommandsIssued, "the processor issues what the model says")
	require.Positive(t, tp.EventsPerSec)
	require.Positive(t, tp.Baseline.RecordsPerSec)
	require.LessOrEqual(t, tp.StartupSeconds, tp.Seconds)
	require.InDelta(t, tp.EventsPerSec/tp.Baseline.RecordsPerSec, tp.Ratio, 1e-9)

	l := res.Latency
	require.Positive(t, l.RatePerSec)
	require.Equal(t, 2000.0, l.RatePerSec)
	require.InDelta(t, 1, l.Seconds, 0.5)
	require.Positive(t, l.Samples)
	require.Equal(t, l.Events, l.Baseline.Samples, "one copy per event")
	for _, p := range []Percentiles{l.Percentiles, l.Baseline.Percentiles} {
		require.Positive(t, p.P50Ms)
		require.LessOrEqual(t, p.P50Ms, p.P99Ms)
		require.LessOrEqual(t, p.P99Ms, p.MaxMs)
	}
	require.Positive(t, l.CommitIntervalMs)
	require.InDelta(t, l.CommitIntervalMs+50, l.LimitMs, 1e-9)
	require.InDelta(t, l.P99Ms/l.Baseline.P99Ms, l.RatioP99, 1e-9)

	rs := res.Restore
	require.GreaterOrEqual(t, rs.Processes, 3000)
	require.Positive(t, rs.TopUp)
	require.Equal(t, rs.Processes, res.Orders+res.Latency.Orders+rs.TopUp, "every order has a process")
	require.GreaterOrEqual(t, rs.Records, int64(rs.Processes))
	require.Equal(t, rs.Records, rs.Baseline.Records)
	require.Positive(t, rs.ProcessesPerSec)
	require.Positive(t, rs.Baseline.RecordsPerSec)
	require.InDelta(t, rs.RecordsPerSec/rs.Baseline.RecordsPerSec, rs.Ratio, 1e-9)
	require.Positive(t, rs.HeapBytes)

	m := res.Memory
	require.Equal(t, 3000, m.Processes)
	require.Positive(t, m.BytesPerProcess)

	names := map[string]Target{}
	for _, tg := range res.Targets {
		names[tg.Name] = tg
	}
	require.Len(t, names, 5)
	require.False(t, names["restore heap"].Checked, "only checked at a million processes")
	for _, n := range []string{"throughput", "latency", "restore", "memory"} {
		require.True(t, names[n].Checked, n)
	}

	require.Contains(t, progress.String(), "EOS throughput")
	require.Contains(t, text.String(), "TARGET")
	var back Results
	var js bytes.Buffer
	require.NoError(t, res.WriteJSON(&js))
	require.NoError(t, json.Unmarshal(js.Bytes(), &back))
	require.Equal(t, res.Throughput, back.Throughput)
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

func TestTargets(t *testing.T) {
	r := Results{
		Throughput: Throughput{Ratio: 0.6},
		Latency:    Latency{Percentiles: Percentiles{P99Ms: 70}, LimitMs: 60},
		Restore:    Restore{Ratio: 0.4, Processes: 1_000_000, HeapBytes: 1 << 30},
		Memory:     Memory{BytesPerProcess: 600},
	}
	got := map[string]bool{}
	for _, tg := range targets(r) {
		require.True(t, tg.Checked, tg.Name)
		got[tg.Name] = tg.Met
	}
	require.Equal(t, map[string]bool{"throughput": true, "latency": false, "restore": false, "restore heap": true, "memory": true}, got)
	require.False(t, Results{Targets: targets(r)}.AllMet())
}

func TestOptionsValidate(t *testing.T) {
	for _, o := range []Options{{Orders: -1}, {Partitions: -2}, {LatencyRate: -1}, {MaxPollRecords: -1}, {RestoreProcesses: -1}} {
		_, err := o.withDefaults()
		require.Error(t, err, "%+v", o)
	}
	o, err := Options{}.withDefaults()
	require.NoError(t, err)
	require.Equal(t, 20000, o.Orders)
	require.Equal(t, int32(6), o.Partitions)
	require.Equal(t, 200000, o.RestoreProcesses)
}
