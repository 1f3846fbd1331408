package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kadm"

	"github.com/catering-match/catering-match/state"
	"github.com/catering-match/catering-match/topics"
)

func TestPublishOneEvent(t *testing.T) {
	e := newEnv(t)
	r := runCmd(t, nil, "publish", "customer-confirmed", "--order", "42", "--menu", "menu-a",
		"--data", `{"k":1}`, "--brokers", e.addr, "--events-topic", e.names.Events)
	require.Equal(t, 0, r.code)

	want := topics.PartitionFor("42", testPartitions)
	line := regexp.MustCompile(`^published CustomerConfirmedMenu order=42 menu=menu-a id=(\S+) to ` +
		regexp.QuoteMeta(e.names.Events) + fmt.Sprintf(` partition %d offset 0\n$`, want))
	m := line.FindStringSubmatch(r.stdout)
	require.NotNil(t, m, "stdout %q", r.stdout)

	rec := readAll(t, e.addr, e.names.Events, 1)[0]
	require.Equal(t, "42", string(rec.Key))
	require.Equal(t, want, rec.Partition, "keyed like Kafka's default partitioner")
	ev, err := topics.DecodeEvent(rec.Key, rec.Value)
	require.NoError(t, err, "the service accepts it")
	require.Equal(t, m[1], ev.ID)
	id, err := uuid.Parse(ev.ID)
	require.NoError(t, err)
	require.Equal(t, uuid.Version(4), id.Version())
	require.Equal(t, state.CustomerConfirmedMenu, ev.Type)
	require.Equal(t, "42", ev.OrderID)
	require.Equal(t, "menu-a", ev.MenuID)
	require.JSONEq(t, `{"k":1}`, string(ev.Data))
	at, ok := ev.OccurredTime()
	require.True(t, ok, "occurred_at %q is RFC 3339", ev.OccurredAt)
	require.WithinDuration(t, time.Now(), at, time.Minute)

	var fields map[string]any
	require.NoError(t, json.Unmarshal(rec.Value, &fields))
	require.ElementsMatch(t, []string{"id", "type", "order_id", "menu_id", "occurred_at", "data"}, keys(fields))
}

func TestPublishOtherTypeAndID(t *testing.T) {
	e := newEnv(t)
	r := runCmd(t, nil, "publish", "--type", "InvoiceSent", "--order", "7", "--id", "ev-1",
		"--brokers", e.addr, "--events-topic", e.names.Events)
	require.Equal(t, 0, r.code)
	require.Contains(t, r.stdout, "published InvoiceSent order=7 id=ev-1 to "+e.names.Events)

	rec := readAll(t, e.addr, e.names.Events, 1)[0]
	ev, err := topics.DecodeEvent(rec.Key, rec.Value)
	require.NoError(t, err)
	require.Equal(t, "InvoiceSent", ev.Type)
	require.Equal(t, "ev-1", ev.ID)
	require.Empty(t, ev.MenuID)
	require.NotContains(t, string(rec.Value), "menu_id", "no menu: the default menu")
}

func TestPublishFromEnvironment(t *testing.T) {
	e := newEnv(t)
	t.Setenv("CATERING_BROKERS", e.addr)
	t.Setenv("CATERING_EVENTS_TOPIC", e.names.Events)
	r := runCmd(t, nil, "publish", "caterer-declined", "--order", "9")
	require.Equal(t, 0, r.code)
	require.Contains(t, r.stdout, "to "+e.names.Events+" partition")
	rec := readAll(t, e.addr, e.names.Events, 1)[0]
	require.Equal(t, "9", string(rec.Key))
}

func TestPublishLines(t *testing.T) {
	e := newEnv(t)
	input := strings.Join([]string{
		`{"id":"e1","type":"CustomerConfirmedMenu","order_id":"1","menu_id":"m","occurred_at":"2026-11-25T10:00:00Z","data":{"x":true}}`,
		`{"type":"CatererConfirmedMenu","order_id":"1","menu_id":"m"}`,
		``,
		`[1,2,3]`,
		`{"id":"e4","type":"CustomerConfirmedMenu","menu_id":"m"}`,
		`  {"id":null,"type":"CatererDeclinedMenu","order_id":"2"}  `,
		`{"id":"e7","type":"","order_id":"3"}`,
		``,
	}, "\n")

	for _, tc := range []struct {
		name string
		args func(file string) []string
		in   func() io.Reader
	}{
		{"file", func(f string) []string { return []string{"--file", f} }, func() io.Reader { return nil }},
		{"dash", func(string) []string { return []string{"--file", "-"} }, func() io.Reader { return strings.NewReader(input) }},
		{"pipe", func(string) []string { return nil }, func() io.Reader { return strings.NewReader(input) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := e
			e.names.Events += "-" + tc.name
			_, err := kadm.NewClient(newClient(t, e.addr)).CreateTopic(testCtx(t), testPartitions, -1, nil, e.names.Events)
			require.NoError(t, err)
			file := filepath.Join(t.TempDir(), "events.jsonl")
			require.NoError(t, os.WriteFile(file, []byte(input), 0o644))

			args := append([]string{"publish", "--brokers", e.addr, "--events-topic", e.names.Events}, tc.args(file)...)
			r := runCmd(t, tc.in(), args...)
			require.Equal(t, 1, r.code, "bad lines make the exit code 1")
			require.Regexp(t, `line 4: not a JSON object: not sent`, r.stderr)
			require.Regexp(t, `line 5: no order_id .*: not sent`, r.stderr)
			require.Regexp(t, `line 7: required field type is empty: not sent`, r.stderr)
			require.NotContains(t, r.stderr, "line 3")
			require.Contains(t, r.stdout, "published 3/3 events to "+e.names.Events+"; 3 lines rejected, not sent")

			require.EqualValues(t, 3, recordCount(t, e.addr, e.names.Events), "only the good lines are sent")
			recs := readAll(t, e.addr, e.names.Events, 3)
			byKeyType := map[string]topics.Event{}
			for _, rec := range recs {
				ev, err := topics.DecodeEvent(rec.Key, rec.Value)
				require.NoError(t, err)
				require.Equal(t, topics.PartitionFor(ev.OrderID, testPartitions), rec.Partition)
				byKeyType[ev.OrderID+"/"+ev.Type] = ev
				_, ok := ev.OccurredTime()
				require.True(t, ok, "occurred_at filled or kept: %s", rec.Value)
			}
			first := byKeyType["1/CustomerConfirmedMenu"]
			require.Equal(t, "e1", first.ID, "a given id is kept")
			require.Equal(t, "2026-11-25T10:00:00Z", first.OccurredAt)
			require.JSONEq(t, `{"x":true}`, string(first.Data))
			for _, k := range []string{"1/CatererConfirmedMenu", "2/CatererDeclinedMenu"} {
				id, err := uuid.Parse(byKeyType[k].ID)
				require.NoError(t, err, "%s: id filled with a UUID", k)
				require.Equal(t, uuid.Version(4), id.Version())
			}
		})
	}
}

func TestPublishRaw(t *testing.T) {
	e := newEnv(t)
	input := "not json at all\n" +
		`{"order_id":"7","type":"X"}` + "\r\n" +
		"\n" +
		`{"order_id":5}` + "\n"
	r := runCmd(t, strings.NewReader(input), "publish", "--raw", "--key", "k",
		"--brokers", e.addr, "--events-topic", e.names.Events)
	require.Equal(t, 0, r.code)
	require.Contains(t, r.stdout, "published 3/3 events")

	got := map[string]string{}
	for _, rec := range readAll(t, e.addr, e.names.Events, 3) {
		got[string(rec.Value)] = string(rec.Key)
	}
	require.Equal(t, map[string]string{
		"not json at all":             "k", // no order_id: --key
		`{"order_id":"7","type":"X"}`: "7", // sent as is, keyed by its order_id
		`{"order_id":5}`:              "k", // order_id not a string
	}, got)
}

func TestPublishMissingTopic(t *testing.T) {
	e := newEnv(t)
	r := runCmd(t, nil, "publish", "customer-confirmed", "--order", "1",
		"--brokers", e.addr, "--events-topic", "no-such-topic")
	require.Equal(t, 1, r.code)
	require.Contains(t, r.stderr, "topic no-such-topic does not exist")
	require.Contains(t, r.stderr, "--events-topic")
}

func keys(m map[string]any) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}
