package main

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/catering-match/catering-match/state"
	"github.com/catering-match/catering-match/topics"
)

// writeProcess writes an order's changelog record (nil history: a
// tombstone) to the partition the service would use.
func writeProcess(t *testing.T, cl *kgo.Client, changelog, order string, history []state.Entry) {
	t.Helper()
	rec := &kgo.Record{Topic: changelog, Key: []byte(order), Partition: topics.PartitionFor(order, testPartitions)}
	if history != nil {
		rec.Value = topics.EncodeProcess(order, history)
	}
	require.NoError(t, cl.ProduceSync(testCtx(t), rec).FirstErr())
}

func TestState(t *testing.T) {
	e := newEnv(t)
	cl := newClient(t, e.addr, kgo.RecordPartitioner(kgo.ManualPartitioner()))
	t0 := time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)
	writeProcess(t, cl, e.names.Changelog, "42", []state.Entry{
		{ID: "e1", Type: state.CustomerConfirmedMenu, Ref: "menu-a", At: state.StampOf(t0)},
		{ID: "e2", Type: state.CatererDeclinedMenu, Ref: "menu-b", At: state.StampOf(t0.Add(time.Minute))},
		{ID: "e3", Type: state.CatererConfirmedMenu, Ref: "menu-a", At: state.StampOf(t0.Add(2 * time.Minute))},
		{ID: state.CommandID("42"), Type: state.ConfirmOrderIssued, Ref: "menu-a", At: state.StampOf(t0.Add(2 * time.Minute))},
	})
	later := time.Now().UTC().Truncate(time.Second)
	writeProcess(t, cl, e.names.Changelog, "44", []state.Entry{
		{ID: "e9", Type: state.CustomerConfirmedMenu, At: state.StampOf(later)},
	})
	writeProcess(t, cl, e.names.Changelog, "43", []state.Entry{
		{ID: "e5", Type: state.CustomerConfirmedMenu, Ref: "m", At: state.StampOf(t0)},
	})
	writeProcess(t, cl, e.names.Changelog, "43", nil)

	conn := []string{"--brokers", e.addr, "--changelog-topic", e.names.Changelog}

	t.Run("confirmed", func(t *testing.T) {
		r := runCmd(t, nil, append([]string{"state", "42"}, conn...)...)
		require.Equal(t, 0, r.code)
		for _, want := range []string{
			"order 42: confirmed",
			"confirmed menu:  menu-a",
			"command id:      " + state.CommandID("42"),
			"menu-a  yes       confirmed",
			"menu-b  no        declined",
			"history (4):",
			"2026-11-25T10:02:00Z  CatererConfirmedMenu   menu-a  e3",
			"forgotten at:    2026-12-02T10:02:00Z",
		} {
			require.Contains(t, r.stdout, want)
		}
	})

	t.Run("confirmed json", func(t *testing.T) {
		r := runCmd(t, nil, append([]string{"state", "42", "--json"}, conn...)...)
		require.Equal(t, 0, r.code)
		var got processView
		require.NoError(t, json.Unmarshal([]byte(r.stdout), &got))
		require.Equal(t, "42", got.OrderID)
		require.Equal(t, "confirmed", got.Status)
		require.Equal(t, "menu-a", got.ConfirmedMenu)
		require.Equal(t, state.CommandID("42"), got.CommandID)
		require.Equal(t, []menuView{
			{MenuID: "menu-a", Customer: true, Caterer: "confirmed"},
			{MenuID: "menu-b", Customer: false, Caterer: "declined"},
		}, got.Menus)
		require.Len(t, got.History, 4)
		require.Equal(t, entryView{ID: "e2", Type: state.CatererDeclinedMenu, MenuID: "menu-b", At: "2026-11-25T10:01:00Z"}, got.History[1])
		require.Empty(t, got.ExpiresAt)
	})

	t.Run("pending shows its deadline", func(t *testing.T) {
		r := runCmd(t, nil, append([]string{"state", "--match-timeout", "2h", "44", "--json"}, conn...)...)
		require.Equal(t, 0, r.code)
		var got processView
		require.NoError(t, json.Unmarshal([]byte(r.stdout), &got))
		require.Equal(t, "pending", got.Status)
		require.Equal(t, timestamp(later.Add(2*time.Hour)), got.ExpiresAt)
		require.Empty(t, got.CommandID)

		r = runCmd(t, nil, append([]string{"state", "44"}, conn...)...)
		require.Equal(t, 0, r.code)
		require.Contains(t, r.stdout, "expires at:  "+timestamp(later.Add(14*24*time.Hour)))
		require.Contains(t, r.stdout, "(default)  yes       none")
	})

	for _, order := range []string{"43", "never-seen"} {
		t.Run("no process "+order, func(t *testing.T) {
			r := runCmd(t, nil, append([]string{"state", order}, conn...)...)
			require.Equal(t, 1, r.code)
			require.Contains(t, r.stderr, "order "+order+" has no process (never seen, or forgotten after retention)")
			require.Empty(t, r.stdout)
		})
	}
}
