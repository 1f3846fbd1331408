package main

import (
	"bytes"
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/catering-match/catering-match/internal/bench"
)

// The default run, scaled down: it starts its own embedded broker and
// prints the results as JSON on stdout, the progress on stderr.
func TestBenchJSON(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	var stdout, stderr bytes.Buffer
	code := run(ctx, []string{"bench", "--orders", "200", "--json"}, nil, &stdout, &stderr)
	t.Logf("stderr:\n%s", stderr.String())
	require.Equal(t, 0, code)

	var res bench.Results
	dec := json.NewDecoder(&stdout)
	dec.DisallowUnknownFields()
	require.NoError(t, dec.Decode(&res), "stdout is one JSON object:\n%s", stdout.String())
	require.False(t, dec.More(), "nothing after the JSON object")
	require.Equal(t, 200, res.Orders)
	require.Equal(t, int32(6), res.Partitions, "default partitions")
	require.Positive(t, res.Throughput.EventsPerSec)
	require.InDelta(t, res.Throughput.EventsPerSec/2, res.Latency.RatePerSec, 1e-6, "default latency rate: half the measured throughput")
	require.Positive(t, res.Latency.Samples)
	require.LessOrEqual(t, res.Latency.P50Ms, res.Latency.P99Ms)
	require.LessOrEqual(t, res.Latency.P99Ms, res.Latency.MaxMs)
	require.GreaterOrEqual(t, res.Restore.Processes, 2000, "default: 10 x --orders")
	require.Equal(t, 2000, res.Memory.Processes, "default: 10 x --orders")
	require.Len(t, res.Targets, 5)
	require.Contains(t, stderr.String(), "EOS throughput")
}

func TestBenchUsageErrors(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"bench", "--orders", "0"}, "--orders 0 must be at least 1"},
		{[]string{"bench", "--latency-rate", "-1"}, "--latency-rate -1"},
		{[]string{"bench", "--latency-duration", "0s"}, "--latency-duration 0s must be positive"},
		{[]string{"bench", "extra"}, `unexpected arguments ["extra"]`},
		{[]string{"bench", "--brokers", "localhost"}, `--brokers "localhost"`},
	} {
		r := runCmd(t, nil, tc.args...)
		require.Equal(t, 2, r.code, "%q", tc.args)
		require.Contains(t, r.stderr, tc.want)
		require.Empty(t, r.stdout)
	}
}
