package main

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/catering-match/catering-match/state"
	"github.com/catering-match/catering-match/topics"
)

func TestReplayUsageErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"argument", []string{"replay", "42"}, `unexpected arguments ["42"]: replay takes only flags`},
		{"empty topic", []string{"replay", "--changelog-topic", ""}, "--changelog-topic is empty"},
		{"bad timeout", []string{"replay", "--match-timeout", "0s"}, "--match-timeout 0s must be positive"},
		{"bad max history", []string{"replay", "--max-history", "1"}, "--max-history 1 must be at least 2"},
		{"bad wait", []string{"replay", "--wait", "-1s"}, "--wait -1s must be positive"},
		{"bad show", []string{"replay", "--show", "-1"}, "--show -1 must not be negative"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := runCmd(t, nil, tc.args...)
			require.Equal(t, 2, r.code)
			require.Empty(t, r.stdout)
			require.Contains(t, r.stderr, tc.want)
			require.Contains(t, r.stderr, "catering replay -h")
		})
	}
}

func TestReplayHelp(t *testing.T) {
	r := runCmd(t, nil, "replay", "-h")
	require.Equal(t, 0, r.code)
	for _, w := range []string{"CATERING_CHANGELOG_TOPIC", "CATERING_MATCH_TIMEOUT", "CATERING_MAX_HISTORY", "CATERING_SHOW", "next-event", "decision-missing", "undecodable"} {
		require.Contains(t, r.stderr, w)
	}
	r = runCmd(t, nil, "-h")
	require.Contains(t, r.stderr, "catering replay ")
}

// The service's own changelog replays clean (exit 0, one line); a record
// this build cannot decode makes exit 1, with where it is.
func TestReplay(t *testing.T) {
	e := newEnv(t)
	cl := newClient(t, e.addr, kgo.RecordPartitioner(kgo.ManualPartitioner()))
	t0 := time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)
	writeProcess(t, cl, e.names.Changelog, "42", []state.Entry{
		{ID: "e1", Type: state.CustomerConfirmedMenu, Ref: "menu-a", At: state.StampOf(t0)},
		{ID: "e2", Type: state.CatererDeclinedMenu, Ref: "menu-b", At: state.StampOf(t0.Add(time.Minute))},
		{ID: "e3", Type: state.CatererConfirmedMenu, Ref: "menu-a", At: state.StampOf(t0.Add(2 * time.Minute))},
		{ID: state.CommandID("42"), Type: state.ConfirmOrderIssued, Ref: "menu-a", At: state.StampOf(t0.Add(2 * time.Minute))},
	})
	writeProcess(t, cl, e.names.Changelog, "43", []state.Entry{{ID: "e5", Type: state.CustomerConfirmedMenu, Ref: "m", At: state.StampOf(t0)}})
	writeProcess(t, cl, e.names.Changelog, "44", []state.Entry{{ID: "e6", Type: state.CustomerConfirmedMenu, Ref: "m", At: state.StampOf(t0)}})
	writeProcess(t, cl, e.names.Changelog, "44", nil)
	args := []string{"replay", "--brokers", e.addr, "--changelog-topic", e.names.Changelog}

	r := runCmd(t, nil, args...)
	require.Equal(t, 0, r.code)
	require.Equal(t, fmt.Sprintf("replayed 2 processes from %d partitions: no differences\n", testPartitions), r.stdout)
	require.Contains(t, r.stderr, fmt.Sprintf("replay: partition %d (%d of %d)", testPartitions-1, testPartitions, testPartitions))

	bad := &kgo.Record{Topic: e.names.Changelog, Key: []byte("45"), Value: []byte("not a process record"), Partition: topics.PartitionFor("45", testPartitions)}
	require.NoError(t, cl.ProduceSync(testCtx(t), bad).FirstErr())
	r = runCmd(t, nil, args...)
	require.Equal(t, 1, r.code)
	require.Contains(t, r.stdout, "  undecodable  1\n")
	require.Contains(t, r.stdout, fmt.Sprintf("order \"45\": %s partition %d offset %d, undecodable\n", e.names.Changelog, bad.Partition, bad.Offset))
	require.Contains(t, r.stderr, "catering replay: 1 orders differ")

	// A match timeout shorter than the one that wrote the changelog
	// shows: order 42 would expire before its second event.
	r = runCmd(t, nil, append(args, "--match-timeout", "1ms")...)
	require.Equal(t, 1, r.code)
	require.Contains(t, r.stdout, "  decision-differs  1\n")
	require.Contains(t, r.stdout, `this build would record MatchExpired (id f8803a11-6c99-5936-92e5-3c6a50896149) after entry 1 (CustomerConfirmedMenu for menu "menu-a", id "e1", at 2026-11-25T10:00:00Z)`)

	r = runCmd(t, nil, "replay", "--brokers", e.addr, "--changelog-topic", "no-such-topic")
	require.Equal(t, 1, r.code)
	require.Contains(t, r.stderr, "topic no-such-topic does not exist")
}
