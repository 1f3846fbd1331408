package audit

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kgo"
)

const (
	evTopic  = "ev"
	cmdTopic = "cmd"
	dlqTopic = "dlq"
)

// fixture is the content of the three topics, built by hand.
type fixture struct {
	next       map[string]map[int32]int64
	clock      time.Time
	events     []*kgo.Record
	commands   []*kgo.Record
	dead       []*kgo.Record
	byID       map[string]*kgo.Record // event id -> its record (last sent)
	processed  map[int32]int64        // events partition -> processed end (nil: all)
	limits     Limits
	eventStart map[int32]int64
	changelog  []*kgo.Record // in the order they are added
	audit      bool          // audit the changelog (topic clTopic)
	skip       string        // else: why not (SkipChangelog)
	now        time.Time     // when the changelog was read (SetNow)
}

func newFixture() *fixture {
	l := DefaultLimits()
	l.MaxHistory = 4
	return &fixture{next: map[string]map[int32]int64{}, clock: t0, byID: map[string]*kgo.Record{}, limits: l}
}

func (f *fixture) record(topic string, p int32, key, value []byte, headers ...kgo.RecordHeader) *kgo.Record {
	if f.next[topic] == nil {
		f.next[topic] = map[int32]int64{}
	}
	r := &kgo.Record{Topic: topic, Partition: p, Offset: f.next[topic][p], Key: key, Value: value, Headers: headers, Timestamp: f.clock}
	f.next[topic][p]++
	f.clock = f.clock.Add(time.Second)
	return r
}

// partition is the events partition of an order in these tests.
func partition(order string) int32 { return int32(len(order) % 3) }

// ev appends a well-formed event of order.
func (f *fixture) ev(order, id, typ, menu string) *kgo.Record {
	m := map[string]any{"id": id, "type": typ, "order_id": order, "occurred_at": "2026-11-25T10:00:00Z", "data": map[string]any{"n": 1}}
	if menu != "" {
		m["menu_id"] = menu
	}
	v, _ := json.Marshal(m)
	r := f.record(evTopic, partition(order), []byte(order), v)
	f.events = append(f.events, r)
	f.byID[id] = r
	return r
}

// raw appends any record to the events topic.
func (f *fixture) raw(p int32, key, value string, headers ...kgo.RecordHeader) *kgo.Record {
	var k, v []byte
	if key != "" {
		k = []byte(key)
	}
	if value != "" {
		v = []byte(value)
	}
	r := f.record(evTopic, p, k, v, headers...)
	f.events = append(f.events, r)
	return r
}

// confirm appends the ConfirmOrder the service must write.
func (f *fixture) confirm(order, menu, causation string) *kgo.Record {
	return f.command(order, map[string]any{
		"command_id": CommandID(order), "type": "ConfirmOrder", "order_id": order, "menu_id": menu,
		"issued_at": "2026-11-25T10:00:01Z", "causation_id": causation, "correlation_id": order,
	})
}

func (f *fixture) command(key string, fields map[string]any) *kgo.Record {
	v, _ := json.Marshal(fields)
	r := f.record(cmdTopic, partition(key), []byte(key), v, kgo.RecordHeader{Key: "type", Value: []byte("ConfirmOrder")})
	f.commands = append(f.commands, r)
	return r
}

// deadLetter appends the dead letter of r, as the service writes it.
func (f *fixture) deadLetter(r *kgo.Record, reason string) *kgo.Record {
	hs := append(slices.Clone(r.Headers),
		kgo.RecordHeader{Key: "dlq-reason", Value: []byte(reason)},
		kgo.RecordHeader{Key: "dlq-topic", Value: []byte(r.Topic)},
		kgo.RecordHeader{Key: "dlq-partition", Value: []byte(strconv.Itoa(int(r.Partition)))},
		kgo.RecordHeader{Key: "dlq-offset", Value: []byte(strconv.FormatInt(r.Offset, 10))},
	)
	d := f.record(dlqTopic, 0, slices.Clone(r.Key), slices.Clone(r.Value), hs...)
	f.dead = append(f.dead, d)
	return d
}

func (f *fixture) check(t *testing.T) *Report {
	t.Helper()
	cfg := Config{EventsTopic: evTopic, CommandsTopic: cmdTopic, DLQTopic: dlqTopic, Limits: f.limits}
	if f.audit {
		cfg.ChangelogTopic = clTopic
	}
	a, err := New(cfg)
	require.NoError(t, err)
	if f.skip != "" {
		a.SkipChangelog(f.skip)
	}
	if !f.now.IsZero() {
		a.SetNow(f.now)
	}
	for _, r := range f.changelog {
		a.AddChangelog(r)
	}
	for p, s := range f.eventStart {
		a.SetEventsStart(p, s)
	}
	for _, r := range f.events {
		processed := true
		if end, ok := f.processed[r.Partition]; ok {
			processed = r.Offset < end
		}
		if end, ok := f.eventStart[r.Partition]; ok && r.Offset < end {
			continue // deleted by retention
		}
		a.AddEvent(r, processed)
	}
	for _, r := range f.commands {
		a.AddCommand(r)
	}
	for _, r := range f.dead {
		a.AddDeadLetter(r)
	}
	rep := a.Check()
	var b bytes.Buffer
	require.NoError(t, rep.WriteText(&b, 0))
	t.Logf("report:\n%s", b.String())
	return rep
}

// corpus builds a workload of every shape with the output a correct
// service writes, computed by hand.
func corpus() *fixture {
	f := newFixture()
	// o1: customer, then caterer.
	f.ev("o1", "o1-e1", cust, "a")
	f.ev("o1", "o1-e2", catOK, "a")
	f.confirm("o1", "a", "o1-e2")
	// o2: duplicates, resent after the match too; default menu.
	f.ev("o2", "o2-c", cust, "")
	f.ev("o2", "o2-c", cust, "")
	f.ev("o2", "o2-k", catOK, "")
	f.confirm("o2", "", "o2-k")
	f.ev("o2", "o2-c", cust, "")
	f.ev("o2", "o2-k", catOK, "")
	// o3x: decline, then confirm.
	f.ev("o3x", "o3-e1", cust, "x")
	f.ev("o3x", "o3-e2", catNo, "x")
	f.ev("o3x", "o3-e3", catOK, "x")
	f.confirm("o3x", "x", "o3-e3")
	// o4: several menus, the match on the second.
	f.ev("o4", "o4-e1", cust, "a")
	f.ev("o4", "o4-e2", cust, "b")
	f.ev("o4", "o4-e3", catNo, "a")
	f.ev("o4", "o4-e4", catOK, "b")
	f.confirm("o4", "b", "o4-e4")
	// o5: never matches, with someone else's events.
	f.ev("o5", "o5-n1", other, "a")
	f.ev("o5", "o5-e1", cust, "a")
	f.ev("o5", "o5-e2", catOK, "b")
	f.ev("o5", "o5-e3", catNo, "a")
	// o6yy: stragglers after the match.
	f.ev("o6yy", "o6-e1", cust, "a")
	f.ev("o6yy", "o6-e2", catOK, "a")
	f.confirm("o6yy", "a", "o6-e2")
	f.ev("o6yy", "o6-e3", catNo, "a")
	f.ev("o6yy", "o6-e4", cust, "b")
	f.ev("o6yy", "o6-e5", catOK, "b")
	// Malformed records, one of them with headers of its own.
	f.deadLetter(f.raw(0, "o7", "not json at all"), "value is not a JSON object")
	f.deadLetter(f.raw(1, "", `{"id":"x","type":"CustomerConfirmedMenu","order_id":"o8"}`), "record key is empty")
	f.deadLetter(f.raw(2, "o8", `{"id":"x","type":"CustomerConfirmedMenu","order_id":"zz"}`, kgo.RecordHeader{Key: "trace", Value: []byte("abc")}), "order_id differs")
	f.deadLetter(f.raw(1, "o10", `{"id":"`+strings.Repeat("i", 129)+`","type":"t","order_id":"o10"}`), "id too long")
	// o9: four events fill the history; the match would come fifth.
	for i := 1; i <= 4; i++ {
		f.ev("o9", fmt.Sprintf("o9-e%d", i), cust, fmt.Sprintf("m%d", i))
	}
	f.deadLetter(f.ev("o9", "o9-e5", catOK, "m1"), ReasonHistoryFull)
	f.ev("o9", "o9-e1", cust, "m1") // a duplicate, not refused
	return f
}

func TestCorpusHolds(t *testing.T) {
	rep := corpus().check(t)
	require.True(t, rep.OK, "%+v", rep.Offending)
	require.Equal(t, Counts{
		Events: 33, Orders: 7, Applied: 20, Duplicates: 4, OtherTypes: 1, TerminalSkips: 3,
		Malformed: 4, HistoryFull: 1, Matched: 5, Commands: 5, DeadLetters: 5,
	}, rep.Counts)
}

func TestCheckerFlags(t *testing.T) {
	drop := func(rs *[]*kgo.Record, pred func(*kgo.Record) bool) {
		*rs = slices.DeleteFunc(*rs, pred)
	}
	cmdOf := func(order string) func(*kgo.Record) bool {
		return func(r *kgo.Record) bool { return string(r.Key) == order }
	}
	edit := func(f *fixture, order string, change func(m map[string]any)) {
		for i, r := range f.commands {
			if string(r.Key) == order {
				var m map[string]any
				require.NoError(t, json.Unmarshal(r.Value, &m))
				change(m)
				v, _ := json.Marshal(m)
				c := *r
				c.Value = v
				f.commands[i] = &c
			}
		}
	}
	for _, tc := range []struct {
		name   string
		mutate func(*fixture)
		order  string // the offending order, or
		record string // the offending record
		want   string
	}{
		{name: "missing command", order: "o4", want: `missing ConfirmOrder for menu "b" (match completed by event "o4-e4"`,
			mutate: func(f *fixture) { drop(&f.commands, cmdOf("o4")) }},
		{name: "duplicate command", order: "o1", want: "duplicate ConfirmOrder cmd[2]@",
			mutate: func(f *fixture) { f.confirm("o1", "a", "o1-e2") }},
		{name: "duplicate with another causation", order: "o1", want: "duplicate ConfirmOrder",
			mutate: func(f *fixture) { f.confirm("o1", "a", "o1-e1") }},
		{name: "wrong menu", order: "o4", want: `has menu_id "a", want "b"`,
			mutate: func(f *fixture) { edit(f, "o4", func(m map[string]any) { m["menu_id"] = "a" }) }},
		{name: "wrong causation", order: "o3x", want: `has causation_id "o3-e1", want "o3-e3"`,
			mutate: func(f *fixture) { edit(f, "o3x", func(m map[string]any) { m["causation_id"] = "o3-e1" }) }},
		{name: "wrong command_id", order: "o2", want: "command_id \"" + CommandID("o1") + "\", want " + CommandID("o2"),
			mutate: func(f *fixture) { edit(f, "o2", func(m map[string]any) { m["command_id"] = CommandID("o1") }) }},
		{name: "random command_id", order: "o2", want: "command_id",
			mutate: func(f *fixture) {
				edit(f, "o2", func(m map[string]any) { m["command_id"] = "0b6c5f5e-6b1e-4c55-9a52-8f1f3c1e2b7a" })
			}},
		{name: "wrong correlation", order: "o2", want: `correlation_id "o1", want "o2"`,
			mutate: func(f *fixture) { edit(f, "o2", func(m map[string]any) { m["correlation_id"] = "o1" }) }},
		{name: "wrong type", order: "o2", want: `type "ConfirmOrders"`,
			mutate: func(f *fixture) { edit(f, "o2", func(m map[string]any) { m["type"] = "ConfirmOrders" }) }},
		{name: "menu_id not a string", order: "o2", want: "menu_id is not a string",
			mutate: func(f *fixture) { edit(f, "o2", func(m map[string]any) { m["menu_id"] = 7 }) }},
		{name: "no type header", order: "o1", want: "no header type: ConfirmOrder",
			mutate: func(f *fixture) {
				for _, r := range f.commands {
					if string(r.Key) == "o1" {
						r.Headers = nil
					}
				}
			}},
		{name: "key differs from order_id", order: "o1", want: `key "o1-" differs from order_id "o1"`,
			mutate: func(f *fixture) {
				for _, r := range f.commands {
					if string(r.Key) == "o1" {
						r.Key = []byte("o1-")
					}
				}
			}},
		{name: "extra command for a non-matching order", order: "o5", want: "but the order's events do not form a match",
			mutate: func(f *fixture) { f.confirm("o5", "a", "o5-e1") }},
		{name: "command for an order history full refused", order: "o9", want: "do not form a match",
			mutate: func(f *fixture) { f.confirm("o9", "m1", "o9-e5") }},
		{name: "command for an unknown order", order: "nobody", want: "for an order with no events",
			mutate: func(f *fixture) { f.confirm("nobody", "", "x") }},
		{name: "command not JSON", order: "o5", want: "is not valid JSON",
			mutate: func(f *fixture) {
				f.record(cmdTopic, 0, nil, nil)
				f.commands = append(f.commands, f.record(cmdTopic, 0, []byte("o5"), []byte("{oops")))
			}},
		{name: "command not JSON, no key", record: "cmd[0]@0", want: "is not valid JSON",
			mutate: func(f *fixture) {
				f.commands = append([]*kgo.Record{{Topic: cmdTopic, Partition: 0, Offset: 0, Value: []byte("[]")}}, f.commands...)
			}},
		{name: "missing dead letter", order: "o7", want: "malformed record ev[0]@",
			mutate: func(f *fixture) { drop(&f.dead, func(r *kgo.Record) bool { return string(r.Key) == "o7" }) }},
		{name: "missing dead letter, empty key", record: "ev[1]@", want: "is not in the DLQ",
			mutate: func(f *fixture) { drop(&f.dead, func(r *kgo.Record) bool { return len(r.Key) == 0 }) }},
		{name: "dead letter twice", order: "o7", want: "is in the DLQ 2 times",
			mutate: func(f *fixture) {
				f.deadLetter(f.events[slices.IndexFunc(f.events, func(r *kgo.Record) bool { return string(r.Key) == "o7" })], "again")
			}},
		{name: "dead letter with an altered value", order: "o8", want: "value differs from the original",
			mutate: func(f *fixture) {
				for _, r := range f.dead {
					if string(r.Key) == "o8" {
						r.Value = bytes.Replace(r.Value, []byte("zz"), []byte("zZ"), 1)
					}
				}
			}},
		{name: "dead letter with a reformatted value", order: "o8", want: "value differs",
			mutate: func(f *fixture) {
				for _, r := range f.dead {
					if string(r.Key) == "o8" {
						r.Value = append(r.Value, '\n')
					}
				}
			}},
		{name: "dead letter with an altered key", order: "o7", want: `key "o7 " differs from the original's "o7"`,
			mutate: func(f *fixture) {
				for _, r := range f.dead {
					if string(r.Key) == "o7" {
						r.Key = []byte("o7 ")
					}
				}
			}},
		{name: "dead letter without the original's headers", order: "o8", want: "headers other than dlq-* differ",
			mutate: func(f *fixture) {
				for _, r := range f.dead {
					if string(r.Key) == "o8" {
						r.Headers = r.Headers[1:]
					}
				}
			}},
		{name: "dead letter with an empty reason", order: "o10", want: "empty or missing dlq-reason",
			mutate: func(f *fixture) {
				for _, r := range f.dead {
					if string(r.Key) == "o10" {
						r.Headers[0].Value = nil
					}
				}
			}},
		{name: "history full with another reason", order: "o9", want: `dlq-reason "full", want "process history full"`,
			mutate: func(f *fixture) {
				for _, r := range f.dead {
					if string(r.Key) == "o9" {
						r.Headers[0].Value = []byte("full")
					}
				}
			}},
		{name: "missing history-full dead letter", order: "o9", want: `event "o9-e5" at ev[`,
			mutate: func(f *fixture) { drop(&f.dead, func(r *kgo.Record) bool { return string(r.Key) == "o9" }) }},
		{name: "extra dead letter of a well-formed event", order: "o1", want: "is well-formed and not refused by max-history (applied), but is in the DLQ",
			mutate: func(f *fixture) { f.deadLetter(f.byID["o1-e1"], "bogus") }},
		{name: "extra dead letter of a duplicate", order: "o9", want: "(duplicate), but is in the DLQ",
			mutate: func(f *fixture) { f.deadLetter(f.events[len(f.events)-1], ReasonHistoryFull) }},
		{name: "extra dead letter naming nothing", record: "dlq[0]@", want: "which is not among the events read",
			mutate: func(f *fixture) {
				d := f.deadLetter(f.byID["o1-e1"], "x")
				d.Headers[len(d.Headers)-1].Value = []byte("999")
			}},
		{name: "extra dead letter from another topic", record: "dlq[0]@", want: `comes from topic "other"`,
			mutate: func(f *fixture) {
				d := f.deadLetter(f.byID["o1-e1"], "x")
				d.Headers[len(d.Headers)-3].Value = []byte("other")
			}},
		{name: "dead letter without coordinates", record: "dlq[0]@", want: "no dlq-offset header",
			mutate: func(f *fixture) {
				d := f.deadLetter(f.byID["o1-e1"], "x")
				d.Headers = d.Headers[:len(d.Headers)-1]
			}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := corpus()
			tc.mutate(f)
			rep := f.check(t)
			require.False(t, rep.OK)
			require.Equal(t, 1, rep.Violations, "%+v", rep.Offending)
			o := rep.Offending[0]
			require.Equal(t, tc.order, o.OrderID)
			require.Contains(t, o.Record, tc.record)
			require.Contains(t, o.Description(), tc.want)

			var text bytes.Buffer
			require.NoError(t, rep.WriteText(&text, 10))
			require.Contains(t, text.String(), "VIOLATIONS: 1\n")
			require.NotContains(t, text.String(), "OK: all guarantees hold")
			if tc.order != "" {
				require.Contains(t, text.String(), "order "+strconv.Quote(tc.order)+": ")
			}
		})
	}
}

func TestReportText(t *testing.T) {
	f := corpus()
	f.confirm("o1", "a", "o1-e2")
	f.confirm("o5", "a", "o5-e1")
	rep := f.check(t)
	var b bytes.Buffer
	require.NoError(t, rep.WriteText(&b, 1))
	out := b.String()
	for _, want := range []string{
		"events read:", "orders:", "applied:", "duplicates:", "other types:", "terminal skips:", "malformed:",
		"history full:", "matched orders:", "commands read:", "dead letters read:", "uncertain:",
		"VIOLATIONS: 2\n", `order "o1": duplicate ConfirmOrder`,
		"CustomerConfirmedMenu  id=\"o1-e1\"  menu=a  2/0  applied", "... and 1 more (raise --show)",
	} {
		require.Contains(t, out, want)
	}
	require.NotContains(t, out, `order "o5"`)

	var j bytes.Buffer
	require.NoError(t, rep.WriteJSON(&j, 0))
	var got struct {
		OK         bool `json:"ok"`
		Violations int  `json:"violations"`
		Counts     struct {
			Events int `json:"events"`
		} `json:"counts"`
		Offending []struct {
			OrderID  string   `json:"order_id"`
			Problems []string `json:"problems"`
			Events   []struct {
				Type      string `json:"type"`
				Partition int32  `json:"partition"`
				Offset    int64  `json:"offset"`
			} `json:"events"`
		} `json:"offending"`
	}
	require.NoError(t, json.Unmarshal(j.Bytes(), &got))
	require.False(t, got.OK)
	require.Equal(t, 2, got.Violations)
	require.Equal(t, 33, got.Counts.Events)
	require.Equal(t, "o1", got.Offending[0].OrderID)
	require.Equal(t, "o5", got.Offending[1].OrderID)
	require.Len(t, got.Offending[0].Events, 2)
}

// Events the service may not have reached: their output is optional, but
// checked when present.
func TestUnprocessedEvents(t *testing.T) {
	f := corpus()
	f.ev("o1", "late-1", cust, "z")   // o1 is confirmed: a terminal skip
	f.ev("o9", "late-2", catOK, "m2") // history full, no dead letter yet
	f.ev("o11", "o11-e1", cust, "a")
	f.ev("o11", "o11-e2", catOK, "a")     // a match, command not written yet
	f.raw(partition("o12"), "o12", "bad") // malformed, not dead-lettered yet
	// Mark exactly the five late records as not yet processed.
	f.processed = map[int32]int64{}
	for _, r := range f.events[len(f.events)-5:] {
		if end, ok := f.processed[r.Partition]; !ok || r.Offset < end {
			f.processed[r.Partition] = r.Offset
		}
	}
	for _, r := range f.events[:len(f.events)-5] {
		if end, ok := f.processed[r.Partition]; ok && r.Offset >= end {
			t.Fatalf("fixture: an early record %s/%d@%d is after a late one", r.Key, r.Partition, r.Offset)
		}
	}
	rep := f.check(t)
	require.True(t, rep.OK, "%+v", rep.Offending)
	require.Equal(t, 5, rep.Counts.Unprocessed)

	// Present, but wrong: a violation.
	f.confirm("o11", "b", "o11-e2")
	rep = f.check(t)
	require.False(t, rep.OK)
	require.Equal(t, "o11", rep.Offending[0].OrderID)
	require.Contains(t, rep.Offending[0].Description(), `has menu_id "b", want "a"`)
}

func TestTimeBoundaries(t *testing.T) {
	day := 24 * time.Hour
	at := func(f *fixture, d time.Duration) { f.clock = t0.Add(d) }

	// The caterer answers 4 minutes after the deadline: uncertain, with or
	// without a command; two commands are a violation all the same.
	build := func() *fixture {
		f := newFixture()
		at(f, 0)
		f.ev("b1", "b1-e1", cust, "a")
		at(f, 14*day+4*time.Minute)
		f.ev("b1", "b1-e2", catOK, "a")
		return f
	}
	f := build()
	rep := f.check(t)
	require.True(t, rep.OK)
	require.Equal(t, 1, rep.Counts.Uncertain)
	require.Equal(t, "b1", rep.Uncertain[0].OrderID)
	var b bytes.Buffer
	require.NoError(t, rep.WriteText(&b, 10))
	require.Contains(t, b.String(), "UNCERTAIN (not violations): 1")
	require.Contains(t, b.String(), "OK: all guarantees hold")

	f = build()
	f.confirm("b1", "a", "b1-e2")
	rep = f.check(t)
	require.True(t, rep.OK)
	require.Equal(t, 1, rep.Counts.Uncertain)

	f = build()
	f.confirm("b1", "a", "b1-e2")
	f.confirm("b1", "a", "b1-e2")
	rep = f.check(t)
	require.False(t, rep.OK)
	require.Contains(t, rep.Offending[0].Description(), "duplicate ConfirmOrder")
	require.Zero(t, rep.Counts.Uncertain)

	// Far past the deadline: exact, and a command is a violation.
	f = newFixture()
	f.ev("b2", "b2-e1", cust, "a")
	at(f, 15*day)
	f.ev("b2", "b2-e2", catOK, "a")
	require.True(t, f.check(t).OK)
	f.confirm("b2", "a", "b2-e2")
	rep = f.check(t)
	require.False(t, rep.OK)
	require.Contains(t, rep.Offending[0].Description(), "do not form a match")
	require.Equal(t, 1, rep.Counts.Expired)

	// Retention: after it, resent events start a new process, which
	// legitimately confirms again; before it, the resend is a duplicate.
	resend := func(after time.Duration) *fixture {
		f := newFixture()
		f.ev("b3", "b3-e1", cust, "a")
		f.ev("b3", "b3-e2", catOK, "a")
		f.confirm("b3", "a", "b3-e2")
		at(f, after)
		f.ev("b3", "b3-e1", cust, "a")
		f.ev("b3", "b3-e2", catOK, "a")
		return f
	}
	f = resend(8 * day)
	rep = f.check(t)
	require.False(t, rep.OK)
	require.Contains(t, rep.Offending[0].Description(), "missing ConfirmOrder")
	f.confirm("b3", "a", "b3-e2")
	rep = f.check(t)
	require.True(t, rep.OK, "%+v", rep.Offending)
	require.Equal(t, 1, rep.Counts.Restarted)

	f = resend(6 * day)
	require.True(t, f.check(t).OK)
	f.confirm("b3", "a", "b3-e2")
	rep = f.check(t)
	require.False(t, rep.OK)
	require.Contains(t, rep.Offending[0].Description(), "duplicate ConfirmOrder")
}

func TestDeletedEvents(t *testing.T) {
	f := corpus()
	f.eventStart = map[int32]int64{partition("o7"): f.next[evTopic][partition("o7")]}
	rep := f.check(t)
	// Every event of that partition is gone; their commands and dead
	// letters remain: the dead letters are not judged, the commands are.
	require.False(t, rep.OK)
	require.NotEmpty(t, rep.Warnings)
	for _, o := range rep.Offending {
		require.Contains(t, o.Description(), "no events")
	}
}

func TestCheckTwice(t *testing.T) {
	f := corpus()
	f.confirm("o1", "a", "o1-e2")
	a, err := New(Config{EventsTopic: evTopic, CommandsTopic: cmdTopic, DLQTopic: dlqTopic, Limits: f.limits})
	require.NoError(t, err)
	for _, r := range f.events {
		a.AddEvent(r, true)
	}
	for _, r := range f.commands {
		a.AddCommand(r)
	}
	for _, r := range f.dead {
		a.AddDeadLetter(r)
	}
	first := a.Check()
	require.Equal(t, first, a.Check())
	require.Equal(t, 1, first.Violations)
}
