package main

import (
	"bytes"
	"context"
	"encoding/json"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/catering-match/catering-match/internal/bench"
)

// The default run, scaled down (small orders, short phases, two runs): it
// starts its own embedded broker and prints the results as JSON on stdout,
// the progress on stderr as lines (a buffer is not a terminal).
func TestBenchJSON(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	var stdout, stderr bytes.Buffer
	code := run(ctx, []string{"bench", "--orders", "200", "--runs", "2", "--min-phase", "50ms",
		"--latency-duration", "200ms", "--members-scan", "1,2", "--json"}, nil, &stdout, &stderr)
	t.Logf("stderr:\n%s", stderr.String())
	require.Equal(t, 0, code)

	var res bench.Results
	dec := json.NewDecoder(&stdout)
	dec.DisallowUnknownFields()
	require.NoError(t, dec.Decode(&res), "stdout is one JSON object:\n%s", stdout.String())
	require.False(t, dec.More(), "nothing after the JSON object")
	require.GreaterOrEqual(t, res.Orders, 200)
	require.Equal(t, int32(6), res.Partitions, "default partitions")
	require.Equal(t, 2, res.Runs)
	require.Equal(t, 0.05, res.MinPhaseSeconds)
	require.Len(t, res.Throughput.Runs, 2)
	require.Len(t, res.Throughput.EventsPerSec.Runs, 2)
	require.Positive(t, res.Throughput.EventsPerSec.Median)
	require.InDelta(t, res.Throughput.EventsPerSec.Median/2, res.Latency.RatePerSec, 1e-6, "default latency rate: half the median throughput")
	require.Len(t, res.Latency.Runs, 2)
	require.LessOrEqual(t, res.Latency.P50Ms.Median, res.Latency.P99Ms.Median)
	require.LessOrEqual(t, res.Latency.P99Ms.Median, res.Latency.MaxMs.Median)
	require.GreaterOrEqual(t, res.Restore.Processes, 2000, "default: 10 x --orders")
	require.Equal(t, 2000, res.Memory.Processes, "default: 10 x --orders")
	require.Len(t, res.Scaling.Points, 2)
	require.Equal(t, runtime.GOMAXPROCS(0), res.Members, "default: one member per CPU")
	require.Len(t, res.Targets, 6)
	require.Contains(t, stderr.String(), "EOS throughput 1/2: start")
	require.NotContains(t, stderr.String(), "\r", "not a terminal: no progress bars")
}

func TestBenchUsageErrors(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"bench", "--orders", "0"}, "--orders 0 must be at least 1"},
		{[]string{"bench", "--latency-rate", "-1"}, "--latency-rate -1"},
		{[]string{"bench", "--latency-duration", "1s"}, "--latency-duration 1s must be at least --min-phase 2s"},
		{[]string{"bench", "--runs", "0"}, "--runs 0 must be at least 1"},
		{[]string{"bench", "--min-phase", "0s"}, "--min-phase 0s must be positive"},
		{[]string{"bench", "--members-scan", "1,x"}, `--members-scan "1,x": "x" is not a member count`},
		{[]string{"bench", "--members-scan", "1,2,1"}, "1 appears twice"},
		{[]string{"bench", "--members", "65"}, "--members 65: use 1-64"},
		{[]string{"bench", "extra"}, `unexpected arguments ["extra"]`},
		{[]string{"bench", "--brokers", "localhost"}, `--brokers "localhost"`},
	} {
		r := runCmd(t, nil, tc.args...)
		require.Equal(t, 2, r.code, "%q", tc.args)
		require.Contains(t, r.stderr, tc.want)
		require.Empty(t, r.stdout)
	}
}

func TestParseMembersScan(t *testing.T) {
	got, err := parseMembersScan(" 1, 2,4 ")
	require.NoError(t, err)
	require.Equal(t, []int{1, 2, 4}, got)
	got, err = parseMembersScan("")
	require.NoError(t, err)
	require.NotNil(t, got, "empty but not nil: skips the scaling phase")
	require.Empty(t, got)
	for _, bad := range []string{"0", "-1", "1,,2", "two", "65"} {
		_, err := parseMembersScan(bad)
		require.Error(t, err, bad)
	}
	require.Equal(t, "1,2,4", joinInts(bench.DefaultMembersScan))
}

func TestWriterIsTerminal(t *testing.T) {
	require.False(t, writerIsTerminal(&bytes.Buffer{}))
	require.False(t, writerIsTerminal(&trackingWriter{w: &strings.Builder{}}))
}
