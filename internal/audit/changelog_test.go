package audit

import (
	"bytes"
	"encoding/json"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kgo"
)

const clTopic = "cl"

// le is one entry of a process record, written by hand.
type le struct{ id, typ, menu string }

func confirmed(order, menu string) le { return le{CommandID(order), ConfirmOrderIssued, menu} }
func expired(order string) le         { return le{"exp-" + order, MatchExpired, ""} }

// logAt appends a changelog record of order to partition p: its history
// (nil: a tombstone), each entry stamped with the fixture's clock.
func (f *fixture) logAt(p int32, order string, entries ...le) *kgo.Record {
	var v []byte
	if entries != nil {
		h := make([]map[string]any, len(entries))
		for i, e := range entries {
			h[i] = map[string]any{"id": e.id, "type": e.typ, "menu_id": e.menu, "at": f.clock.Format(time.RFC3339Nano)}
		}
		v, _ = json.Marshal(map[string]any{"schema": 1, "order_id": order, "history": h})
	}
	r := f.record(clTopic, p, []byte(order), v)
	f.changelog = append(f.changelog, r)
	return r
}

// log appends a record of order to its events' partition.
func (f *fixture) log(order string, entries ...le) *kgo.Record {
	return f.logAt(partition(order), order, entries...)
}

func (f *fixture) tombstone(order string) *kgo.Record { return f.logAt(partition(order), order) }

// dropLog removes every changelog record of order.
func (f *fixture) dropLog(order string) {
	f.changelog = slices.DeleteFunc(f.changelog, func(r *kgo.Record) bool { return string(r.Key) == order })
}

// e is the entry of an event of the corpus, by id.
func (f *fixture) e(id string) le {
	var m map[string]any
	_ = json.Unmarshal(f.byID[id].Value, &m)
	menu, _ := m["menu_id"].(string)
	return le{id, m["type"].(string), menu}
}

// withChangelog adds to the corpus the changelog a correct service
// writes: a record per change, the latest being the fold of each order's
// applied events and its decision, computed by hand.
func withChangelog(f *fixture) *fixture {
	f.audit = true
	e := f.e
	f.log("o1", e("o1-e1"))
	f.log("o1", e("o1-e1"), e("o1-e2"), confirmed("o1", "a"))
	f.log("o2", e("o2-c"), e("o2-k"), confirmed("o2", ""))
	f.log("o3x", e("o3-e1"))
	f.log("o3x", e("o3-e1"), e("o3-e2"))
	f.log("o3x", e("o3-e1"), e("o3-e2"), e("o3-e3"), confirmed("o3x", "x"))
	f.log("o4", e("o4-e1"), e("o4-e2"), e("o4-e3"), e("o4-e4"), confirmed("o4", "b"))
	f.log("o5", e("o5-e1"), e("o5-e2"), e("o5-e3")) // pending; o5-n1 is someone else's
	f.log("o6yy", e("o6-e1"), e("o6-e2"), confirmed("o6yy", "a"))
	f.log("o9", e("o9-e1"), e("o9-e2"), e("o9-e3"), e("o9-e4")) // full; o9-e5 dead-lettered
	f.now = f.clock.Add(time.Hour)
	return f
}

func TestChangelogCorpusHolds(t *testing.T) {
	rep := withChangelog(corpus()).check(t)
	require.True(t, rep.OK, "%+v", rep.Offending)
	require.Equal(t, clTopic, rep.ChangelogTopic)
	require.Empty(t, rep.ChangelogNotAudited)
	require.Equal(t, 10, rep.Counts.ChangelogRecords)
	require.Equal(t, 7, rep.Counts.ChangelogLive)
	require.Zero(t, rep.Counts.ChangelogTombstones)
	require.Zero(t, rep.Counts.Uncertain)

	var b bytes.Buffer
	require.NoError(t, rep.WriteText(&b, 0))
	require.Contains(t, b.String(), "changelog records read:")
	require.Contains(t, b.String(), "OK: all guarantees hold")
	require.NotContains(t, b.String(), "changelog not audited")
}

// Not audited: said so, and nothing else changes.
func TestChangelogNotAudited(t *testing.T) {
	f := corpus()
	f.skip = "topic catering-match-changelog not found; pass --changelog-topic"
	rep := f.check(t)
	require.True(t, rep.OK)
	require.Empty(t, rep.ChangelogTopic)
	var b bytes.Buffer
	require.NoError(t, rep.WriteText(&b, 0))
	require.Contains(t, b.String(), "changelog not audited: topic catering-match-changelog not found; pass --changelog-topic\n")
	require.NotContains(t, b.String(), "changelog records read")
	var j bytes.Buffer
	require.NoError(t, rep.WriteJSON(&j, 0))
	require.Contains(t, j.String(), `"changelog_not_audited": "topic catering-match-changelog not found; pass --changelog-topic"`)
}

func TestChangelogFlags(t *testing.T) {
	for _, tc := range []struct {
		name   string
		mutate func(*fixture)
		order  string   // the offending order, or
		record string   // the offending record
		want   []string // in the offense's description
	}{
		{
			// The motivating corruption (issue 9): a stale holder of the
			// partition wrote MatchExpired over the owner's confirmed
			// record, without the caterer's confirmation.
			name: "stale MatchExpired over a confirmed record", order: "o1",
			mutate: func(f *fixture) { f.log("o1", f.e("o1-e1"), expired("o1")) },
			want: []string{
				"changelog: latest record at cl[2]@", " is expired (MatchExpired) but ConfirmOrder exists at cmd[2]@0",
				`missing event "o1-e2" (CatererConfirmedMenu) at ev[2]@`,
			},
		},
		{
			name: "missing event", order: "o4",
			mutate: func(f *fixture) {
				f.log("o4", f.e("o4-e1"), f.e("o4-e3"), f.e("o4-e4"), confirmed("o4", "b"))
			},
			want: []string{`changelog: latest record at cl[2]@`, `: missing event "o4-e2" (CustomerConfirmedMenu) at ev[2]@`},
		},
		{
			name: "missing the first event", order: "o5",
			mutate: func(f *fixture) { f.log("o5", f.e("o5-e2"), f.e("o5-e3")) },
			want:   []string{`missing event "o5-e1" (CustomerConfirmedMenu)`},
		},
		{
			name: "an entry from another order", order: "o5",
			mutate: func(f *fixture) { f.log("o5", f.e("o5-e1"), f.e("o1-e1"), f.e("o5-e2"), f.e("o5-e3")) },
			want:   []string{`entry "o1-e1" (CustomerConfirmedMenu) is an event of order "o1" (at ev[2]@`, "an entry from another order"},
		},
		{
			name: "an entry that is no event", order: "o5",
			mutate: func(f *fixture) { f.log("o5", f.e("o5-e1"), f.e("o5-e2"), f.e("o5-e3"), le{"ghost", cust, "a"}) },
			want:   []string{`entry "ghost" (CustomerConfirmedMenu) is no event of ev`},
		},
		{
			name: "entries out of order", order: "o3x",
			mutate: func(f *fixture) {
				f.log("o3x", f.e("o3-e2"), f.e("o3-e1"), f.e("o3-e3"), confirmed("o3x", "x"))
			},
			want: []string{`entries out of partition order: "o3-e2" (ev[0]@`, `) is recorded before "o3-e1" (ev[0]@`},
		},
		{
			name: "an entry the rules skip (terminal)", order: "o6yy",
			mutate: func(f *fixture) {
				f.log("o6yy", f.e("o6-e1"), f.e("o6-e2"), f.e("o6-e3"), confirmed("o6yy", "a"))
			},
			want: []string{`entry "o6-e3" (CatererDeclinedMenu): the rules do not apply its event at ev[1]@`, "(terminal)"},
		},
		{
			name: "an event recorded twice", order: "o2",
			mutate: func(f *fixture) { f.log("o2", f.e("o2-c"), f.e("o2-c"), f.e("o2-k"), confirmed("o2", "")) },
			want:   []string{`event "o2-c" is recorded more than once`},
		},
		{
			name: "an entry with another menu", order: "o5",
			mutate: func(f *fixture) { f.log("o5", f.e("o5-e1"), le{"o5-e2", catOK, "a"}, f.e("o5-e3")) },
			want:   []string{`entry "o5-e2" is CatererConfirmedMenu of menu "a", but the event at ev[2]@`, `is CatererConfirmedMenu of menu "b"`},
		},
		{
			name: "confirmed without a command", order: "o5",
			mutate: func(f *fixture) { f.log("o5", f.e("o5-e1"), f.e("o5-e2"), f.e("o5-e3"), confirmed("o5", "a")) },
			want:   []string{"is confirmed (ConfirmOrderIssued) but no ConfirmOrder exists"},
		},
		{
			name: "a command without a confirmed record", order: "o6yy",
			mutate: func(f *fixture) { f.log("o6yy", f.e("o6-e1"), f.e("o6-e2")) },
			want:   []string{"is pending (no decision entry) but ConfirmOrder exists at cmd[1]@"},
		},
		{
			name: "a confirmed record whose command is missing", order: "o1",
			mutate: func(f *fixture) {
				f.commands = slices.DeleteFunc(f.commands, func(r *kgo.Record) bool { return string(r.Key) == "o1" })
			},
			want: []string{"missing ConfirmOrder", "is confirmed (ConfirmOrderIssued) but no ConfirmOrder exists"},
		},
		{
			name: "confirmed on the wrong menu", order: "o4",
			mutate: func(f *fixture) {
				f.log("o4", f.e("o4-e1"), f.e("o4-e2"), f.e("o4-e3"), f.e("o4-e4"), confirmed("o4", "a"))
			},
			want: []string{`its ConfirmOrderIssued names menu "a", but the match is on menu "b"`},
		},
		{
			name: "confirmed with another id", order: "o4",
			mutate: func(f *fixture) {
				f.log("o4", f.e("o4-e1"), f.e("o4-e2"), f.e("o4-e3"), f.e("o4-e4"), le{"x", ConfirmOrderIssued, "b"})
			},
			want: []string{`its ConfirmOrderIssued has id "x", want the command id ` + CommandID("o4")},
		},
		{
			name: "entries after the decision", order: "o1",
			mutate: func(f *fixture) { f.log("o1", f.e("o1-e1"), confirmed("o1", "a"), f.e("o1-e2")) },
			want:   []string{"entries after its ConfirmOrderIssued: a decided process applies nothing more"},
		},
		{
			name: "expired before its deadline", order: "o5",
			mutate: func(f *fixture) { f.log("o5", f.e("o5-e1"), f.e("o5-e2"), f.e("o5-e3"), expired("o5")) },
			want:   []string{"is expired (MatchExpired) before its deadline 2026-12-09T10:00:", `first event "o5-e1" at ev[2]@`},
		},
		{
			name: "tombstone of a pending process", order: "o5",
			mutate: func(f *fixture) { f.tombstone("o5") },
			want:   []string{"is a tombstone of a pending, non-expired process", `first event "o5-e1"`, "deadline 2026-12-09T10:00:"},
		},
		{
			name: "tombstone of a confirmed process within its retention", order: "o3x",
			mutate: func(f *fixture) { f.tombstone("o3x") },
			want:   []string{"is a tombstone, but the process was confirmed by event \"o3-e3\" at ev[0]@", "and is kept until 2026-12-02T10:00:"},
		},
		{
			name: "no record at all", order: "o4",
			mutate: func(f *fixture) { f.dropLog("o4") },
			want:   []string{"changelog: no record in cl partition 2 for the order's 4 applied events, but the process was confirmed by event \"o4-e4\""},
		},
		{
			name: "a record in another partition", order: "o1",
			mutate: func(f *fixture) {
				f.logAt(0, "o1", f.e("o1-e1"), f.e("o1-e2"), confirmed("o1", "a"))
			},
			want: []string{"changelog: record at cl[0]@", "is in partition 0, but the order's events are in ev partition 2"},
		},
		{
			name: "a record for an order without events", order: "nobody",
			mutate: func(f *fixture) { f.log("nobody", le{"n1", cust, ""}) },
			want:   []string{"holds a process, but the order has no well-formed events in ev"},
		},
		{
			name: "a record that is not a process record", order: "o5",
			mutate: func(f *fixture) {
				r := f.log("o5", f.e("o5-e1"))
				r.Value = []byte(`{"schema":2,"order_id":"o5","history":[]}`)
			},
			want: []string{"changelog: latest record at cl[2]@", "is not a process record: schema 2: this verify reads schema 1"},
		},
		{
			name: "a record with an empty key", record: "cl[0]@",
			mutate: func(f *fixture) {
				r := f.logAt(0, "", le{"n1", cust, ""})
				r.Key = nil
			},
			want: []string{"has an empty key"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := withChangelog(corpus())
			tc.mutate(f)
			rep := f.check(t)
			require.False(t, rep.OK)
			require.Equal(t, 1, rep.Violations, "%+v", rep.Offending)
			o := rep.Offending[0]
			require.Equal(t, tc.order, o.OrderID)
			require.Contains(t, o.Record, tc.record)
			for _, w := range tc.want {
				require.Contains(t, o.Description(), w)
			}

			var text bytes.Buffer
			require.NoError(t, rep.WriteText(&text, 10))
			require.Contains(t, text.String(), "VIOLATIONS: 1\n")
			if tc.order != "" {
				require.Contains(t, text.String(), "order "+strconv.Quote(tc.order)+": ")
			}
		})
	}
}

// The report shows the offending order's latest record, in text and JSON.
func TestChangelogReport(t *testing.T) {
	f := withChangelog(corpus())
	f.log("o1", f.e("o1-e1"), expired("o1"))
	rep := f.check(t)
	var b bytes.Buffer
	require.NoError(t, rep.WriteText(&b, 10))
	out := b.String()
	require.Contains(t, out, `order "o1": changelog: latest record at cl[2]@`)
	require.Regexp(t, `    changelog cl\[2\]@\d+: CustomerConfirmedMenu "o1-e1" menu=a, MatchExpired "exp-o1"\n`, out)

	var j bytes.Buffer
	require.NoError(t, rep.WriteJSON(&j, 0))
	var got struct {
		Offending []struct {
			OrderID   string   `json:"order_id"`
			Problems  []string `json:"problems"`
			Changelog []struct {
				Record    string `json:"record"`
				Partition int32  `json:"partition"`
				History   []struct {
					Type string `json:"type"`
					ID   string `json:"id"`
				} `json:"history"`
			} `json:"changelog"`
		} `json:"offending"`
		ChangelogTopic string `json:"changelog_topic"`
	}
	require.NoError(t, json.Unmarshal(j.Bytes(), &got))
	require.Equal(t, clTopic, got.ChangelogTopic)
	require.Len(t, got.Offending, 1)
	o := got.Offending[0]
	require.Equal(t, "o1", o.OrderID)
	require.Len(t, o.Changelog, 1)
	require.Equal(t, int32(2), o.Changelog[0].Partition)
	require.Equal(t, []string{cust, MatchExpired}, []string{o.Changelog[0].History[0].Type, o.Changelog[0].History[1].Type})
	require.Contains(t, o.Problems[0], `missing event "o1-e2"`)
}

// Several corruptions at once: each order named once.
func TestChangelogSeveralOrders(t *testing.T) {
	f := withChangelog(corpus())
	f.log("o1", f.e("o1-e1"), expired("o1"))
	f.log("o3x", f.e("o3-e1"), f.e("o3-e2"), expired("o3x"))
	f.tombstone("o9")
	rep := f.check(t)
	var names []string
	for _, o := range rep.Offending {
		names = append(names, o.OrderID)
	}
	slices.Sort(names)
	require.Equal(t, []string{"o1", "o3x", "o9"}, names)
}

// Time: the ticks may expire and forget processes after the last event,
// up to when the changelog was read, and not before.
func TestChangelogTicks(t *testing.T) {
	day := 24 * time.Hour
	build := func(now time.Duration, latest func(f *fixture)) *Report {
		f := newFixture()
		f.audit = true
		f.ev("p1", "p1-c", cust, "a")
		f.log("p1", f.e("p1-c"))
		f.ev("m1", "m1-c", cust, "a")
		f.ev("m1", "m1-k", catOK, "a")
		f.confirm("m1", "a", "m1-k")
		f.log("m1", f.e("m1-c"), f.e("m1-k"), confirmed("m1", "a"))
		if latest != nil {
			latest(f)
		}
		f.now = t0.Add(now)
		return f.check(t)
	}
	ok := func(now time.Duration, latest func(f *fixture)) {
		t.Helper()
		rep := build(now, latest)
		require.True(t, rep.OK, "%+v", rep.Offending)
	}
	bad := func(now time.Duration, order, want string, latest func(f *fixture)) {
		t.Helper()
		rep := build(now, latest)
		require.False(t, rep.OK)
		require.Len(t, rep.Offending, 1)
		require.Equal(t, order, rep.Offending[0].OrderID)
		require.Contains(t, rep.Offending[0].Description(), want)
	}
	expire := func(f *fixture) { f.log("p1", f.e("p1-c"), expired("p1")) }
	forgetP := func(f *fixture) { f.tombstone("p1") }
	forgetM := func(f *fixture) { f.tombstone("m1") }
	dropP := func(f *fixture) { f.dropLog("p1") }
	dropM := func(f *fixture) { f.dropLog("m1") }

	ok(time.Hour, nil)
	ok(20*day, nil) // a pending process past its deadline: the service may not have ticked
	ok(14*day+time.Minute, expire)
	ok(14*day-time.Minute, expire) // within the tolerance
	bad(13*day, "p1", "is expired (MatchExpired) before its deadline", expire)
	ok(21*day+time.Minute, forgetP) // expired, then forgotten
	ok(21*day+time.Minute, dropP)   // and compaction removed the tombstone
	bad(20*day, "p1", "is a tombstone, but the process expired at its deadline", forgetP)
	bad(20*day, "p1", "no record in cl partition 2 for the order's 1 applied events, but the process expired", dropP)
	ok(7*day+time.Hour, forgetM)
	ok(7*day+time.Hour, dropM)
	bad(6*day, "m1", "is a tombstone, but the process was confirmed", forgetM)
}

// Events the service may not have processed yet: the record may or may
// not hold them; but it must hold every processed one.
func TestChangelogUnprocessed(t *testing.T) {
	build := func() *fixture {
		f := newFixture()
		f.audit = true
		f.now = t0.Add(time.Hour)
		f.ev("u1", "u1-c", cust, "a")
		f.ev("u1", "u1-x", cust, "b")
		f.ev("u1", "u1-k", catOK, "a") // not processed
		f.processed = map[int32]int64{partition("u1"): f.byID["u1-k"].Offset}
		return f
	}
	f := build()
	f.log("u1", f.e("u1-c"), f.e("u1-x"))
	require.True(t, f.check(t).OK)

	f = build()
	f.log("u1", f.e("u1-c"), f.e("u1-x"), f.e("u1-k"), confirmed("u1", "a"))
	f.confirm("u1", "a", "u1-k")
	require.True(t, f.check(t).OK)

	f = build()
	f.log("u1", f.e("u1-c"))
	rep := f.check(t)
	require.False(t, rep.OK)
	require.Contains(t, rep.Offending[0].Description(), `missing event "u1-x" (CustomerConfirmedMenu)`)
}

// After retention a resent event starts a new process: the latest record
// holds only that one's events.
func TestChangelogRestarted(t *testing.T) {
	day := 24 * time.Hour
	f := newFixture()
	f.audit = true
	f.ev("r1", "r1-c", cust, "a")
	f.ev("r1", "r1-k", catOK, "a")
	f.confirm("r1", "a", "r1-k")
	f.log("r1", f.e("r1-c"), f.e("r1-k"), confirmed("r1", "a"))
	f.clock = t0.Add(8 * day)
	f.tombstone("r1")
	f.ev("r1", "r1-c", cust, "a")
	f.log("r1", f.e("r1-c"))
	f.now = f.clock
	rep := f.check(t)
	require.True(t, rep.OK, "%+v", rep.Offending)
	require.Equal(t, 1, rep.Counts.Restarted)

	// The old process's record as the latest: the resent event is missing.
	f.log("r1", f.e("r1-c"), f.e("r1-k"), confirmed("r1", "a"))
	rep = f.check(t)
	require.False(t, rep.OK)
	require.Contains(t, rep.Offending[0].Description(), `entry "r1-k" (CatererConfirmedMenu) belongs to an earlier process of the order`)
}

// Near a time boundary the changelog may fit either outcome; it must fit
// the same one as the commands.
func TestChangelogNearBoundary(t *testing.T) {
	day := 24 * time.Hour
	build := func() *fixture {
		f := newFixture()
		f.audit = true
		f.ev("b1", "b1-c", cust, "a")
		f.clock = t0.Add(14*day + 4*time.Minute)
		f.ev("b1", "b1-k", catOK, "a")
		f.now = f.clock.Add(time.Hour)
		return f
	}
	f := build() // matched just in time
	f.confirm("b1", "a", "b1-k")
	f.log("b1", f.e("b1-c"), f.e("b1-k"), confirmed("b1", "a"))
	rep := f.check(t)
	require.True(t, rep.OK, "%+v", rep.Offending)
	require.Equal(t, 1, rep.Counts.Uncertain)

	f = build() // expired just before
	f.log("b1", f.e("b1-c"), expired("b1"))
	require.True(t, f.check(t).OK)

	f = build() // a command, but an expired record: no outcome fits both
	f.confirm("b1", "a", "b1-k")
	f.log("b1", f.e("b1-c"), expired("b1"))
	rep = f.check(t)
	require.False(t, rep.OK)
	require.Equal(t, "b1", rep.Offending[0].OrderID)
	require.Contains(t, rep.Offending[0].Description(), "none of 2 outcomes possible near a time boundary fits")
}

func TestDecodeProcessRecord(t *testing.T) {
	good := `{"schema":1,"order_id":"42","history":[{"id":"a","type":"CustomerConfirmedMenu","menu_id":"m","at":"2026-11-25T10:00:00Z"},{"id":"b","type":"ConfirmOrderIssued","at":"2026-11-25T10:00:01.5Z","extra":1}],"more":true}`
	rec, bad := DecodeProcessRecord([]byte("42"), []byte(good))
	require.Empty(t, bad)
	require.Equal(t, "42", rec.OrderID)
	require.Equal(t, []Entry{
		{ID: "a", Type: cust, MenuID: "m", At: t0},
		{ID: "b", Type: ConfirmOrderIssued, At: t0.Add(1500 * time.Millisecond)},
	}, rec.History)
	for value, want := range map[string]string{
		``:               "not a JSON object",
		`[]`:             "not a JSON object",
		`{"schema"`:      "not a JSON object",
		`{}`:             "schema is missing",
		`{"schema":"1"}`: "schema \"1\" is not an integer",
		`{"schema":2}`:   "schema 2: this verify reads schema 1",
		`{"schema":1}`:   "order_id is missing",
		`{"schema":1,"order_id":"41","history":[]}`:                                                              `order_id "41" differs from key "42"`,
		`{"schema":1,"order_id":"42"}`:                                                                           "history is missing",
		`{"schema":1,"order_id":"42","history":{}}`:                                                              "history is not an array",
		`{"schema":1,"order_id":"42","history":[]}`:                                                              "history is empty",
		`{"schema":1,"order_id":"42","history":[1]}`:                                                             "history[0] is not a JSON object",
		`{"schema":1,"order_id":"42","history":[{"type":"t","at":"2026-11-25T10:00:00Z"}]}`:                      "history[0]: id is missing",
		`{"schema":1,"order_id":"42","history":[{"id":"a","type":"","at":"2026-11-25T10:00:00Z"}]}`:              "history[0]: type is empty",
		`{"schema":1,"order_id":"42","history":[{"id":"a","type":"t","menu_id":3,"at":"2026-11-25T10:00:00Z"}]}`: "history[0]: menu_id is not a string",
		`{"schema":1,"order_id":"42","history":[{"id":"a","type":"t"}]}`:                                         "history[0]: at is missing",
		`{"schema":1,"order_id":"42","history":[{"id":"a","type":"t","at":"yesterday"}]}`:                        `history[0]: at "yesterday" is not an RFC 3339 time`,
	} {
		_, bad := DecodeProcessRecord([]byte("42"), []byte(value))
		require.Contains(t, bad, want, "value %s", value)
	}
}

// The fixture's latest record per key is the one the auditor keeps, also
// when records are added out of order across partitions.
func TestChangelogLatestWins(t *testing.T) {
	f := withChangelog(corpus())
	// Reverse the records: the first o1 record (one entry) is added last,
	// but the auditor keeps the higher offset.
	slices.Reverse(f.changelog)
	require.True(t, f.check(t).OK)
}

func TestChangelogViewsSummary(t *testing.T) {
	v := ChangelogView{History: []EntryView{{Type: cust, ID: "a", MenuID: "m"}, {Type: MatchExpired, ID: "x"}}, MoreEntries: 3}
	require.Equal(t, `CustomerConfirmedMenu "a" menu=m, MatchExpired "x", ... 3 more`, v.summary())
	require.Equal(t, "tombstone", ChangelogView{Tombstone: true}.summary())
	require.True(t, strings.HasPrefix(ChangelogView{Invalid: "schema 2"}.summary(), "invalid"))
}
