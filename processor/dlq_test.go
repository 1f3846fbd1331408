package processor_test

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/catering-match/catering-match/state"
	"github.com/catering-match/catering-match/topics"
)

// quietLogger logs only errors unless TEST_LOG is set: dead letters are
// logged as warnings, and these tests make many on purpose.
func quietLogger(t *testing.T) *slog.Logger {
	if os.Getenv("TEST_LOG") != "" {
		return testLogger(t)
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError})).With("test", t.Name())
}

// waitForTopics waits until the processor has created its topics, so that
// the test's producer does not meet an unknown topic (and wait out the
// metadata min age before retrying).
func waitForTopics(t *testing.T, addr string, names topics.Names) {
	t.Helper()
	// A client caches "unknown topic" for its metadata min age (5 s by default).
	adm := kadm.NewClient(client(t, addr, kgo.MetadataMinAge(20*time.Millisecond)))
	eventually(t, 60*time.Second, "the topics created", func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		details, err := adm.ListTopics(ctx, names.Events, names.Changelog, names.Commands, names.DLQ)
		if err != nil {
			return false
		}
		for _, n := range []string{names.Events, names.Changelog, names.Commands, names.DLQ} {
			if d, ok := details[n]; !ok || d.Err != nil || len(d.Partitions) == 0 {
				return false
			}
		}
		return true
	})
}

// dlqByCoordinates indexes dead letters by their dlq-partition/dlq-offset.
func dlqByCoordinates(t *testing.T, recs []*kgo.Record) map[string]*kgo.Record {
	t.Helper()
	out := map[string]*kgo.Record{}
	for _, r := range recs {
		p, _ := headerValue(r, "dlq-partition")
		o, _ := headerValue(r, "dlq-offset")
		c := p + "/" + o
		require.NotContains(t, out, c, "two dead letters for one input record")
		out[c] = r
	}
	return out
}

// requireDeadLetter requires d to be orig, byte for byte, with its original
// headers first and the four dlq headers after them, once each.
func requireDeadLetter(t *testing.T, orig, d *kgo.Record) (reason string) {
	t.Helper()
	require.True(t, bytes.Equal(orig.Key, d.Key), "key: want %q got %q", orig.Key, d.Key)
	require.True(t, bytes.Equal(orig.Value, d.Value), "value: want %q got %q", orig.Value, d.Value)
	require.Len(t, d.Headers, len(orig.Headers)+4, "the original headers plus dlq-reason, dlq-topic, dlq-partition, dlq-offset")
	for i, h := range orig.Headers {
		require.Equal(t, h.Key, d.Headers[i].Key, "original header %d", i)
		require.True(t, bytes.Equal(h.Value, d.Headers[i].Value), "original header %q: want %q got %q", h.Key, h.Value, d.Headers[i].Value)
	}
	for k, want := range map[string]string{
		"dlq-topic":     orig.Topic,
		"dlq-partition": strconv.Itoa(int(orig.Partition)),
		"dlq-offset":    strconv.FormatInt(orig.Offset, 10),
	} {
		got, n := headerValue(d, k)
		require.Equal(t, 1, n, "header %s once", k)
		require.Equal(t, want, got, "header %s", k)
	}
	reason, n := headerValue(d, "dlq-reason")
	require.Equal(t, 1, n, "one dlq-reason header")
	require.NotEmpty(t, reason)
	return reason
}

// TestMalformedRecordsGoToDLQ feeds every malformed shape of docs/contract.md,
// interleaved with good orders: each bad record is in the DLQ as it came,
// with its reason and coordinates, and the good orders still match.
func TestMalformedRecordsGoToDLQ(t *testing.T) {
	b := startBroker(t, "")
	names := testNames(t)
	cfg := testConfig(t, b.Addr(), names)
	cfg.Logger = quietLogger(t)
	r := start(t, cfg)
	waitForTopics(t, b.Addr(), names)

	ev := func(fields string) []byte { return []byte("{" + fields + "}") }
	long := strings.Repeat("x", 129)
	at128 := strings.Repeat("q", 128)
	cases := []struct {
		name      string
		key       []byte
		value     []byte
		headers   []kgo.RecordHeader
		reasonHas []string
	}{
		{"not JSON", []byte("bad-1"), []byte("hello, world"), nil, []string{"JSON object"}},
		{"truncated JSON", []byte("bad-2"), []byte(`{"id":"x","type":"CustomerConfirmedMenu","order_id":"bad-2"`), nil, []string{"JSON object"}},
		{"JSON array", []byte("bad-3"), []byte(`[{"id":"x","type":"CustomerConfirmedMenu","order_id":"bad-3"}]`), nil, []string{"JSON object"}},
		{"JSON string", []byte("bad-4"), []byte(`"CustomerConfirmedMenu"`), nil, []string{"JSON object"}},
		{"JSON number", []byte("bad-5"), []byte(`42`), nil, []string{"JSON object"}},
		{"JSON null", []byte("bad-6"), []byte(`null`), nil, []string{"JSON object"}},
		{"empty value", []byte("bad-7"), []byte{}, nil, []string{"JSON object"}},
		{"missing id, with headers", []byte("bad-8"), ev(`"type":"CustomerConfirmedMenu","order_id":"bad-8"`),
			[]kgo.RecordHeader{{Key: "traceparent", Value: []byte("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")}, {Key: "dup", Value: []byte("1")}, {Key: "dup", Value: []byte("2")}},
			[]string{`\bid\b`, "missing"}},
		{"empty id", []byte("bad-9"), ev(`"id":"","type":"CustomerConfirmedMenu","order_id":"bad-9"`), nil, []string{`\bid\b`, "empty"}},
		{"null id", []byte("bad-10"), ev(`"id":null,"type":"CustomerConfirmedMenu","order_id":"bad-10"`), nil, []string{`\bid\b`}},
		{"id not a string", []byte("bad-11"), ev(`"id":17,"type":"CustomerConfirmedMenu","order_id":"bad-11"`), nil, []string{`\bid\b`, "string"}},
		{"missing type", []byte("bad-12"), ev(`"id":"e-12","order_id":"bad-12"`), nil, []string{"type", "missing"}},
		{"empty type", []byte("bad-13"), ev(`"id":"e-13","type":"","order_id":"bad-13"`), nil, []string{"type", "empty"}},
		{"missing order_id", []byte("bad-14"), ev(`"id":"e-14","type":"CustomerConfirmedMenu"`), nil, []string{"order_id", "missing"}},
		{"empty order_id", []byte("bad-15"), ev(`"id":"e-15","type":"CustomerConfirmedMenu","order_id":""`), nil, []string{"order_id", "empty"}},
		{"order_id differs from key", []byte("bad-16"), ev(`"id":"e-16","type":"CatererConfirmedMenu","order_id":"good-1"`), nil, []string{"order_id", `"good-1"`, `"bad-16"`}},
		{"order_id differs only in case", []byte("good-2"), ev(`"id":"e-17","type":"CatererConfirmedMenu","order_id":"GOOD-2"`), nil, []string{"order_id", `"GOOD-2"`, `"good-2"`}},
		{"empty key", []byte{}, ev(`"id":"e-18","type":"CustomerConfirmedMenu","order_id":"good-3"`), nil, []string{"key"}},
		{"null key", nil, ev(`"id":"e-19","type":"CustomerConfirmedMenu","order_id":"good-3"`), nil, []string{"key"}},
		{"id over 128 bytes", []byte("bad-20"), ev(`"id":"` + long + `","type":"CustomerConfirmedMenu","order_id":"bad-20"`), nil, []string{`\bid\b`, "128", "129"}},
		{"order_id over 128 bytes", []byte(long), ev(`"id":"e-21","type":"CustomerConfirmedMenu","order_id":"` + long + `"`), nil, []string{"order_id", "128"}},
		{"menu_id over 128 bytes", []byte("good-4"), ev(`"id":"e-22","type":"CatererConfirmedMenu","order_id":"good-4","menu_id":"` + long + `"`), nil, []string{"menu_id", "128"}},
		{"menu_id not a string", []byte("good-4"), ev(`"id":"e-23","type":"CatererConfirmedMenu","order_id":"good-4","menu_id":["a"]`), nil, []string{"menu_id"}},
	}

	// Good orders, sharing keys (so partitions) with some of the bad records.
	good := []*kgo.Record{
		event("g-1a", state.CustomerConfirmedMenu, "good-1", "m"),
		event("g-2a", state.CustomerConfirmedMenu, "good-2", ""),
		event("g-3a", state.CatererConfirmedMenu, "good-3", "m"),
		event("g-4a", state.CustomerConfirmedMenu, "good-4", at128),
		event("g-5a", state.CatererConfirmedMenu, "bad-8", "m"),
		event("g-1b", state.CatererConfirmedMenu, "good-1", "m"),
		event("g-2b", state.CatererConfirmedMenu, "good-2", ""),
		event("g-3b", state.CustomerConfirmedMenu, "good-3", "m"),
		event("g-4b", state.CatererConfirmedMenu, "good-4", at128),
		event("g-5b", state.CustomerConfirmedMenu, "bad-8", "m"),
		event(at128, state.CustomerConfirmedMenu, "good-6", "m"), // id at the limit: well-formed
		event("g-6b", state.CatererConfirmedMenu, "good-6", "m"),
	}
	wantCmd := map[string][2]string{ // order -> menu, causation
		"good-1": {"m", "g-1b"}, "good-2": {"", "g-2b"}, "good-3": {"m", "g-3b"},
		"good-4": {at128, "g-4b"}, "bad-8": {"m", "g-5b"}, "good-6": {"m", "g-6b"},
	}
	var all, bad []*kgo.Record
	for i, c := range cases {
		rec := &kgo.Record{Topic: names.Events, Key: c.key, Value: c.value, Headers: c.headers}
		bad = append(bad, rec)
		all = append(all, rec)
		if i < len(good) {
			g := good[i]
			g.Topic = names.Events
			all = append(all, g)
		}
	}
	produce(t, b.Addr(), all...)

	eventually(t, 60*time.Second, "every record accounted for", func() bool {
		s := r.p.Stats()
		return s.Applied.Load()+s.SkippedDuplicate.Load()+s.SkippedTerminal.Load()+s.SkippedOtherType.Load()+s.DeadLettered.Load() >= int64(len(all))
	})
	s := r.p.Stats()
	require.EqualValues(t, len(cases), s.DeadLettered.Load(), "dead-lettered")
	require.EqualValues(t, len(good), s.Applied.Load(), "applied")
	require.Zero(t, s.HistoryFull.Load())

	dlq := dlqByCoordinates(t, readAll(t, b.Addr(), names.DLQ))
	require.Len(t, dlq, len(cases))
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			orig := bad[i]
			d := dlq[fmt.Sprintf("%d/%d", orig.Partition, orig.Offset)]
			require.NotNil(t, d, "no dead letter for %s at %d/%d", c.name, orig.Partition, orig.Offset)
			reason := requireDeadLetter(t, orig, d)
			for _, sub := range c.reasonHas {
				require.Regexp(t, sub, reason)
			}
		})
	}

	cmds := readAll(t, b.Addr(), names.Commands)
	got := map[string][2]string{}
	for _, rec := range cmds {
		c, err := topics.DecodeConfirmOrder(rec.Value)
		require.NoError(t, err)
		require.NotContains(t, got, c.OrderID, "duplicate command")
		require.Equal(t, string(rec.Key), c.OrderID)
		got[c.OrderID] = [2]string{c.MenuID, c.CausationID}
	}
	require.Equal(t, wantCmd, got)
}

// TestHistoryFullGoesToDLQ checks rule 8: with max-history 3, the 4th
// distinct event of an order is dead-lettered as "process history full",
// and so is a later event that would have completed a match.
func TestHistoryFullGoesToDLQ(t *testing.T) {
	b := startBroker(t, "")
	names := testNames(t)
	cfg := testConfig(t, b.Addr(), names)
	cfg.Logger = quietLogger(t)
	cfg.Limits = state.Limits{Timeout: 24 * time.Hour, Retention: 24 * time.Hour, MaxHistory: 3}
	r := start(t, cfg)
	waitForTopics(t, b.Addr(), names)

	recs := []*kgo.Record{
		event("h1", state.CustomerConfirmedMenu, "full", "a"),
		event("h2", state.CustomerConfirmedMenu, "full", "b"),
		event("h3", state.CatererDeclinedMenu, "full", "c"),
		event("h4", state.CustomerConfirmedMenu, "full", "d"), // the 4th: history full
		event("h1", state.CustomerConfirmedMenu, "full", "a"), // a duplicate is still a duplicate
		event("h5", state.CatererConfirmedMenu, "full", "a"),  // would match, but there is no room
		event("x1", "OrderNoteAdded", "full", ""),             // someone else's: skipped, not dead-lettered
		// another order still matches with the same limit
		event("o1", state.CustomerConfirmedMenu, "other", "a"),
		event("o2", state.CatererDeclinedMenu, "other", "a"),
		event("o3", state.CatererConfirmedMenu, "other", "a"),
	}
	recs[3].Headers = []kgo.RecordHeader{{Key: "source", Value: []byte("test")}}
	for _, rec := range recs {
		rec.Topic = names.Events
	}
	produce(t, b.Addr(), recs...)

	eventually(t, 60*time.Second, "every record accounted for", func() bool {
		s := r.p.Stats()
		return s.Applied.Load()+s.SkippedDuplicate.Load()+s.SkippedTerminal.Load()+s.SkippedOtherType.Load()+s.DeadLettered.Load() >= int64(len(recs))
	})
	s := r.p.Stats()
	require.EqualValues(t, 6, s.Applied.Load())
	require.EqualValues(t, 1, s.SkippedDuplicate.Load())
	require.EqualValues(t, 1, s.SkippedOtherType.Load())
	require.EqualValues(t, 2, s.DeadLettered.Load())
	require.EqualValues(t, 2, s.HistoryFull.Load())
	require.EqualValues(t, 1, s.CommandsIssued.Load())

	dlq := dlqByCoordinates(t, readAll(t, b.Addr(), names.DLQ))
	require.Len(t, dlq, 2)
	for _, orig := range []*kgo.Record{recs[3], recs[5]} {
		d := dlq[fmt.Sprintf("%d/%d", orig.Partition, orig.Offset)]
		require.NotNil(t, d, "no dead letter for %s", orig.Value)
		require.Equal(t, "process history full", requireDeadLetter(t, orig, d))
	}

	cmds := readAll(t, b.Addr(), names.Commands)
	require.Len(t, cmds, 1)
	c, err := topics.DecodeConfirmOrder(cmds[0].Value)
	require.NoError(t, err)
	require.Equal(t, "other", c.OrderID)
	require.Equal(t, "o3", c.CausationID)

	latest := latestChangelog(t, b.Addr(), names, cfg.Spec.Partitions)
	_, hist, err := topics.DecodeProcess([]byte("full"), latest["full"].Value)
	require.NoError(t, err)
	var ids []string
	for _, h := range hist {
		ids = append(ids, h.ID)
	}
	require.Equal(t, []string{"h1", "h2", "h3"}, ids)
}
