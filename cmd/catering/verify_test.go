package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/catering-match/catering-match/internal/catering"
	"github.com/catering-match/catering-match/processor"
	"github.com/catering-match/catering-match/state"
	"github.com/catering-match/catering-match/topics"
)

func TestVerifyUsageErrors(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"verify", "extra"}, `unexpected arguments ["extra"]`},
		{[]string{"verify", "--max-history", "0"}, "--max-history 0 must be at least 1"},
		{[]string{"verify", "--show", "-1"}, "--show -1 must not be negative"},
		{[]string{"verify", "--wait", "0s"}, "--wait 0s must be positive"},
		{[]string{"verify", "--match-timeout", "-1h"}, "--match-timeout -1h0m0s must be positive"},
		{[]string{"verify", "--time-tolerance", "-1m"}, "--time-tolerance -1m0s must not be negative"},
		{[]string{"verify", "--dlq-topic", "x", "--commands-topic", "x"}, "three different topics"},
		{[]string{"verify", "--changelog-topic", "catering-events"}, `--changelog-topic "catering-events" must differ`},
		{[]string{"verify", "--brokers", "localhost"}, `--brokers "localhost"`},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			r := runCmd(t, nil, tc.args...)
			require.Equal(t, 2, r.code)
			require.Empty(t, r.stdout)
			require.Contains(t, r.stderr, tc.want)
		})
	}
	r := runCmd(t, nil, "verify", "-h")
	require.Equal(t, 0, r.code)
	for _, w := range []string{"CATERING_GROUP", "CATERING_CHANGELOG_TOPIC", "X-events: X-changelog", "CATERING_MAX_HISTORY", "CATERING_TIME_TOLERANCE", "(default 336h0m0s)", "(default 168h0m0s)", "(default 10m0s)", "(default 1000)", "(default 1m0s)"} {
		require.Contains(t, r.stderr, w)
	}
}

// confirmOrder is the command value docs/contract.md prescribes, written out here.
func confirmOrder(order, menu, causation string) []byte {
	ns := uuid.MustParse("6f2b8c0e-3a6d-5b9e-8f41-6c1f0e2a9d57")
	v, _ := json.Marshal(map[string]string{
		"command_id": uuid.NewSHA1(ns, []byte("ConfirmOrder/"+order)).String(), "type": "ConfirmOrder",
		"order_id": order, "menu_id": menu, "issued_at": time.Now().UTC().Format(time.RFC3339Nano),
		"causation_id": causation, "correlation_id": order,
	})
	return v
}

func commandRecord(topic, order, menu, causation string) *kgo.Record {
	return &kgo.Record{Topic: topic, Key: []byte(order), Value: confirmOrder(order, menu, causation),
		Headers: []kgo.RecordHeader{{Key: "type", Value: []byte("ConfirmOrder")}}}
}

func eventValue(id, typ, order, menu string) []byte {
	m := map[string]any{"id": id, "type": typ, "order_id": order, "occurred_at": "2026-11-25T10:00:00Z", "data": map[string]any{}}
	if menu != "" {
		m["menu_id"] = menu
	}
	v, _ := json.Marshal(m)
	return v
}

func deadLetterOf(topic string, r *kgo.Record, reason string) *kgo.Record {
	hs := append(slices.Clone(r.Headers),
		kgo.RecordHeader{Key: "dlq-reason", Value: []byte(reason)},
		kgo.RecordHeader{Key: "dlq-topic", Value: []byte(r.Topic)},
		kgo.RecordHeader{Key: "dlq-partition", Value: []byte(strconv.Itoa(int(r.Partition)))},
		kgo.RecordHeader{Key: "dlq-offset", Value: []byte(strconv.FormatInt(r.Offset, 10))})
	return &kgo.Record{Topic: topic, Key: r.Key, Value: r.Value, Headers: hs}
}

// transact writes recs in one transaction and commits or aborts it.
func transact(t *testing.T, cl *kgo.Client, commit bool, recs ...*kgo.Record) {
	t.Helper()
	ctx := testCtx(t)
	require.NoError(t, cl.BeginTransaction())
	require.NoError(t, cl.ProduceSync(ctx, recs...).FirstErr())
	require.NoError(t, cl.EndTransaction(ctx, kgo.TransactionEndTry(commit)))
}

// The topics written by hand: what a correct service writes passes; an
// aborted transaction does not count; a committed duplicate fails.
func TestVerifyHandWritten(t *testing.T) {
	e := newEnv(t)
	n := e.names
	ev := func(id, typ, order, menu string) *kgo.Record {
		return &kgo.Record{Topic: n.Events, Key: []byte(order), Value: eventValue(id, typ, order, menu)}
	}
	events := []*kgo.Record{
		ev("a1", "CustomerConfirmedMenu", "o1", "menu-a"), ev("a2", "CatererConfirmedMenu", "o1", "menu-a"),
		ev("b1", "CustomerConfirmedMenu", "o2", ""), ev("b1", "CustomerConfirmedMenu", "o2", ""), ev("b2", "CatererConfirmedMenu", "o2", ""),
		ev("c1", "CustomerConfirmedMenu", "o3", "x"), ev("c2", "CatererDeclinedMenu", "o3", "x"), ev("c3", "CatererConfirmedMenu", "o3", "x"),
		ev("d1", "CustomerConfirmedMenu", "o4", "a"), ev("d2", "CustomerConfirmedMenu", "o4", "b"), ev("d3", "CatererConfirmedMenu", "o4", "b"), ev("d4", "CatererDeclinedMenu", "o4", "b"),
		ev("e1", "CustomerConfirmedMenu", "o5", "a"), ev("e2", "OrderNoteAdded", "o5", "a"), ev("e3", "CatererConfirmedMenu", "o5", "b"),
		{Topic: n.Events, Key: []byte("o6"), Value: []byte("not json"), Headers: []kgo.RecordHeader{{Key: "trace", Value: []byte("t-1")}}},
		{Topic: n.Events, Key: []byte("o7"), Value: []byte(`{"id":"x","type":"CustomerConfirmedMenu","order_id":"o8"}`)},
		{Topic: n.Events, Value: []byte(`{"id":"y","type":"CustomerConfirmedMenu","order_id":"o9"}`)},
	}
	producer := newClient(t, e.addr)
	require.NoError(t, producer.ProduceSync(testCtx(t), events...).FirstErr())

	txn := newClient(t, e.addr, kgo.TransactionalID("verify-test-"+n.Commands))
	transact(t, txn, true,
		commandRecord(n.Commands, "o1", "menu-a", "a2"), commandRecord(n.Commands, "o2", "", "b2"),
		commandRecord(n.Commands, "o3", "x", "c3"), commandRecord(n.Commands, "o4", "b", "d3"))
	var dead []*kgo.Record
	for _, r := range events[len(events)-3:] {
		dead = append(dead, deadLetterOf(n.DLQ, r, "malformed"))
	}
	transact(t, txn, true, dead...)
	// A bogus command and dead letter in an aborted transaction: invisible.
	transact(t, txn, false, commandRecord(n.Commands, "o5", "a", "e1"), commandRecord(n.Commands, "o1", "menu-a", "a2"),
		deadLetterOf(n.DLQ, events[0], "bogus"))

	args := []string{"verify", "--brokers", e.addr, "--events-topic", n.Events, "--commands-topic", n.Commands, "--dlq-topic", n.DLQ, "--wait", "10s"}
	r := runCmd(t, nil, args...)
	require.Equal(t, 0, r.code)
	require.Contains(t, r.stdout, "OK: all guarantees hold")
	// ev-N derives no changelog name: not audited, and said so.
	require.Contains(t, r.stdout, "changelog not audited: no changelog name follows from --events-topic "+n.Events+"; pass --changelog-topic\n")
	for _, w := range []string{"events read:                18", "orders:                     5", "matched orders:             4", "commands read:              4", "dead letters read:          3", "malformed:                  3", "duplicates:                 1", "other types:                1", "terminal skips:             1"} {
		require.Contains(t, r.stdout, w)
	}

	// The same, as JSON.
	r = runCmd(t, nil, append(args, "--json")...)
	require.Equal(t, 0, r.code)
	var rep struct {
		OK     bool           `json:"ok"`
		Counts map[string]int `json:"counts"`
	}
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &rep))
	require.True(t, rep.OK)
	require.Equal(t, 4, rep.Counts["commands"])

	// A committed duplicate: exit 1, and the report names the order.
	transact(t, txn, true, commandRecord(n.Commands, "o3", "x", "c3"))
	r = runCmd(t, nil, args...)
	require.Equal(t, 1, r.code)
	require.Contains(t, r.stdout, "VIOLATIONS: 1\n")
	require.Contains(t, r.stdout, `order "o3": duplicate ConfirmOrder`)
	require.Regexp(t, `CatererDeclinedMenu +id="c2" +menu=x`, r.stdout)
	require.Contains(t, r.stderr, "1 violations")

	// --group: a group that processed nothing is not caught up.
	r = runCmd(t, nil, append(args, "--group", "nobody", "--wait", "1s")...)
	require.Equal(t, 1, r.code)
	require.Contains(t, r.stderr, "service has not processed 18 records")
	require.Empty(t, r.stdout)

	// A transaction left open on the commands: verify waits, then says so.
	require.NoError(t, txn.BeginTransaction())
	require.NoError(t, txn.ProduceSync(testCtx(t), commandRecord(n.Commands, "o5", "a", "e1")).FirstErr())
	r = runCmd(t, nil, append(args, "--wait", "1s")...)
	require.Equal(t, 1, r.code)
	require.Contains(t, r.stderr, n.Commands+" has a transaction open for longer than --wait 1s")
	require.NoError(t, txn.EndTransaction(testCtx(t), kgo.TryAbort))
	r = runCmd(t, nil, args...)
	require.Equal(t, 1, r.code) // the duplicate above, not the aborted command
	require.Contains(t, r.stdout, "VIOLATIONS: 1\n")
}

// workload generates orders of every shape, malformed records and orders
// over the history limit, from a seeded source.
func workload(topic string, seed uint64, orders int) []*kgo.Record {
	rnd := rand.New(rand.NewPCG(seed, 7))
	var perOrder [][]*kgo.Record
	for i := range orders {
		order := fmt.Sprintf("ord-%d", i)
		if i%50 == 7 {
			order = fmt.Sprintf("bestellung-ü-%d", i)
		}
		n := 0
		ev := func(typ, menu string) *kgo.Record {
			n++
			id := fmt.Sprintf("%s-e%d-%x", order, n, rnd.Uint32())
			return &kgo.Record{Topic: topic, Key: []byte(order), Value: eventValue(id, typ, order, menu)}
		}
		again := func(r *kgo.Record) *kgo.Record { c := *r; return &c }
		m := []string{"", "menu-a", "menu-b"}[rnd.IntN(3)]
		var recs []*kgo.Record
		switch rnd.IntN(12) {
		case 0:
			recs = []*kgo.Record{ev("CustomerConfirmedMenu", m), ev("CatererConfirmedMenu", m)}
		case 1:
			recs = []*kgo.Record{ev("CatererConfirmedMenu", m), ev("CustomerConfirmedMenu", m)}
		case 2: // duplicates, before and after the match
			c, k := ev("CustomerConfirmedMenu", m), ev("CatererConfirmedMenu", m)
			recs = []*kgo.Record{c, again(c), k, again(c), again(k)}
		case 3:
			recs = []*kgo.Record{ev("CustomerConfirmedMenu", m), ev("CatererDeclinedMenu", m), ev("CatererConfirmedMenu", m)}
		case 4:
			recs = []*kgo.Record{ev("CatererConfirmedMenu", m), ev("CatererDeclinedMenu", m), ev("CustomerConfirmedMenu", m)}
		case 5:
			recs = []*kgo.Record{ev("CustomerConfirmedMenu", "menu-a"), ev("CustomerConfirmedMenu", "menu-b"), ev("CatererDeclinedMenu", "menu-a"), ev("CatererConfirmedMenu", "menu-b")}
		case 6:
			recs = []*kgo.Record{ev("CustomerConfirmedMenu", m), ev("OrderNoteAdded", m)}
		case 7: // stragglers
			recs = []*kgo.Record{ev("CustomerConfirmedMenu", m), ev("CatererConfirmedMenu", m), ev("CatererDeclinedMenu", m), ev("CustomerConfirmedMenu", "menu-c")}
		case 8: // over the history limit (6): the match comes too late
			for j := range 6 {
				recs = append(recs, ev("CustomerConfirmedMenu", fmt.Sprintf("m%d", j)))
			}
			recs = append(recs, ev("CatererConfirmedMenu", "m0"), again(recs[0]), ev("CatererDeclinedMenu", "m1"))
		case 9:
			recs = []*kgo.Record{ev("OrderNoteAdded", ""), ev("CatererConfirmedMenu", m), ev("OrderNoteAdded", m), ev("CustomerConfirmedMenu", m)}
		default:
			for range 1 + rnd.IntN(7) {
				if len(recs) > 0 && rnd.IntN(5) == 0 {
					recs = append(recs, again(recs[rnd.IntN(len(recs))]))
					continue
				}
				typ := []string{"CustomerConfirmedMenu", "CatererConfirmedMenu", "CatererDeclinedMenu", "OrderNoteAdded"}[rnd.IntN(4)]
				recs = append(recs, ev(typ, []string{"", "menu-a", "menu-b"}[rnd.IntN(3)]))
			}
		}
		if rnd.IntN(6) == 0 {
			long := strings.Repeat("x", 129)
			bad := []*kgo.Record{
				{Key: []byte(order), Value: []byte("not json")},
				{Key: []byte(order), Value: []byte(`["array"]`)},
				{Key: []byte(order)},
				{Key: []byte(order), Value: []byte(`{"type":"CustomerConfirmedMenu","order_id":"` + order + `"}`)},
				{Key: []byte(order), Value: []byte(`{"id":"x","type":"CustomerConfirmedMenu","order_id":"someone-else"}`)},
				{Key: []byte(order), Value: []byte(`{"id":"` + long + `","type":"CustomerConfirmedMenu","order_id":"` + order + `"}`)},
				{Key: []byte(order), Value: []byte(`{"id":"x","type":"CustomerConfirmedMenu","order_id":"` + order + `","menu_id":7}`)},
				{Key: []byte(order), Value: []byte(`{"ID":"x","type":"CustomerConfirmedMenu","order_id":"` + order + `"}`)},
				{Value: []byte(`{"id":"x","type":"CustomerConfirmedMenu","order_id":"` + order + `"}`)},
			}[rnd.IntN(9)]
			bad.Topic = topic
			recs = slices.Insert(recs, rnd.IntN(len(recs)+1), bad)
		}
		perOrder = append(perOrder, recs)
	}
	var out []*kgo.Record
	for len(perOrder) > 0 {
		i := rnd.IntN(len(perOrder))
		out = append(out, perOrder[i][0])
		if perOrder[i] = perOrder[i][1:]; len(perOrder[i]) == 0 {
			perOrder = slices.Delete(perOrder, i, i+1)
		}
	}
	return out
}

// startService runs the service in process on e's topics until the test
// ends; it returns the processor and its group.
func startService(t *testing.T, e env, maxHistory int) (*processor.Processor[state.Order], string) {
	t.Helper()
	cfg := processor.DefaultConfig()
	cfg.Brokers = []string{e.addr}
	cfg.Group = "g-" + e.names.Events
	cfg.InstanceID = "i1"
	cfg.Topics = e.names
	cfg.Spec.Partitions = testPartitions
	cfg.SessionTimeout = 6 * time.Second
	if maxHistory > 0 {
		cfg.Limits.MaxHistory = maxHistory
	}
	cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	p, err := processor.New(cfg, catering.Definition())
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			require.NoError(t, err)
		case <-time.After(60 * time.Second):
			t.Errorf("processor did not stop")
		}
	})
	return p, cfg.Group
}

// The real service, in process, on a generated workload: verify agrees.
func TestVerifyAgainstService(t *testing.T) {
	e := newEnv(t)
	n := e.names
	recs := workload(n.Events, 42, 300)
	require.NoError(t, newClient(t, e.addr, kgo.ProducerLinger(0)).ProduceSync(testCtx(t), recs...).FirstErr())
	p, group := startService(t, e, 6)

	var stdout, stderr strings.Builder
	vctx, vcancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer vcancel()
	code := run(vctx, []string{"verify", "--brokers", e.addr, "--events-topic", n.Events, "--commands-topic", n.Commands,
		"--dlq-topic", n.DLQ, "--changelog-topic", n.Changelog, "--group", group, "--wait", "60s", "--max-history", "6", "--json", "--show", "0"}, nil, &stdout, &stderr)
	t.Logf("verify: exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout.String(), stderr.String())
	require.Equal(t, 0, code)
	var rep struct {
		OK             bool             `json:"ok"`
		Counts         map[string]int64 `json:"counts"`
		ChangelogTopic string           `json:"changelog_topic"`
	}
	require.NoError(t, json.Unmarshal([]byte(stdout.String()), &rep))
	require.True(t, rep.OK)
	require.Equal(t, n.Changelog, rep.ChangelogTopic)
	c := rep.Counts
	require.Equal(t, int64(len(recs)), c["events"])
	require.Positive(t, c["changelog_records"])
	require.Positive(t, c["changelog_live"])
	require.Positive(t, c["matched"])
	require.Positive(t, c["malformed"])
	require.Positive(t, c["history_full"])
	require.Positive(t, c["duplicates"])

	// A duplicate of one of the service's commands, committed: caught.
	cmds := readAll(t, e.addr, n.Commands, int(c["commands"]))
	dup := commandRecord(n.Commands, string(cmds[0].Key), "", "")
	dup.Value = cmds[0].Value
	transact(t, newClient(t, e.addr, kgo.TransactionalID("verify-dup-"+n.Commands)), true, dup)
	r := runCmd(t, nil, "verify", "--brokers", e.addr, "--events-topic", n.Events, "--commands-topic", n.Commands,
		"--dlq-topic", n.DLQ, "--max-history", "6")
	require.Equal(t, 1, r.code)
	require.Contains(t, r.stdout, "VIOLATIONS: 1\n")
	require.Contains(t, r.stdout, fmt.Sprintf("order %q: duplicate ConfirmOrder", cmds[0].Key))

	// The auditor's counts are the service's own, from another angle.
	s := p.Stats()
	require.Equal(t, s.Applied.Load(), c["applied"])
	require.Equal(t, s.SkippedDuplicate.Load(), c["duplicates"])
	require.Equal(t, s.SkippedTerminal.Load(), c["terminal_skips"])
	require.Equal(t, s.SkippedOtherType.Load(), c["other_types"])
	require.Equal(t, s.HistoryFull.Load(), c["history_full"])
	require.Equal(t, s.CommandsIssued.Load(), c["commands"])
	require.Equal(t, s.DeadLettered.Load(), c["dead_letters"])
}

// The changelog audited end to end: the service's changelog passes, found
// without --changelog-topic (X-events: X-changelog); a stale MatchExpired
// written over a confirmed order's record (issue 9: a stale holder's tick)
// is reported with the order named, and verify exits 1.
func TestVerifyChangelogStaleRecord(t *testing.T) {
	id := fmt.Sprintf("stale-%d", testSeq.Add(1))
	e := newEnvNamed(t, topics.Names{Events: id + "-events", Commands: id + "-commands", Changelog: id + "-changelog", DLQ: id + "-dlq"})
	n := e.names
	ev := func(eid, typ, order string) *kgo.Record {
		return &kgo.Record{Topic: n.Events, Key: []byte(order), Value: eventValue(eid, typ, order, "menu-a")}
	}
	require.NoError(t, newClient(t, e.addr).ProduceSync(testCtx(t),
		ev("s1-c", "CustomerConfirmedMenu", "s1"), ev("s1-k", "CatererConfirmedMenu", "s1"),
		ev("s2-c", "CustomerConfirmedMenu", "s2"),
		ev("s3-k", "CatererConfirmedMenu", "s3"), ev("s3-c", "CustomerConfirmedMenu", "s3"),
	).FirstErr())
	_, group := startService(t, e, 0)

	args := []string{"verify", "--brokers", e.addr, "--events-topic", n.Events, "--commands-topic", n.Commands,
		"--dlq-topic", n.DLQ, "--group", group, "--wait", "30s"}
	r := runCmd(t, nil, args...)
	require.Equal(t, 0, r.code)
	require.Contains(t, r.stdout, "OK: all guarantees hold")
	require.Regexp(t, `changelog records read: +\d+ +\(`+n.Changelog+`\)`, r.stdout)
	require.Regexp(t, `changelog processes: +3 `, r.stdout)
	require.NotContains(t, r.stdout, "changelog not audited")

	// The stale record: s1's first entry, then MatchExpired, in s1's
	// changelog partition, committed.
	recs := readToEnd(t, e.addr, n.Changelog)
	var latest *kgo.Record
	for _, rec := range recs {
		if string(rec.Key) == "s1" && (latest == nil || rec.Offset > latest.Offset) {
			latest = rec
		}
	}
	require.NotNil(t, latest, "no changelog record of s1")
	_, history, err := topics.DecodeProcess(latest.Key, latest.Value)
	require.NoError(t, err)
	require.Equal(t, "ConfirmOrderIssued", history[len(history)-1].Type)
	stale := append(slices.Clone(history[:1]), state.Entry{ID: "stale-expiry", Type: state.MatchExpired, At: state.StampOf(time.Now().UTC())})
	txn := newClient(t, e.addr, kgo.TransactionalID("stale-"+n.Changelog), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	transact(t, txn, true, &kgo.Record{Topic: n.Changelog, Partition: latest.Partition, Key: []byte("s1"), Value: topics.EncodeProcess("s1", stale)})

	r = runCmd(t, nil, args...)
	require.Equal(t, 1, r.code)
	require.Contains(t, r.stdout, "VIOLATIONS: 1\n")
	require.Regexp(t, `order "s1": changelog: latest record at `+n.Changelog+`\[\d+\]@\d+ is expired \(MatchExpired\) but ConfirmOrder exists at `+n.Commands+`\[\d+\]@0; missing event "s1-k" \(CatererConfirmedMenu\) at `+n.Events+`\[\d+\]@1`, r.stdout)
	require.Regexp(t, `    changelog `+n.Changelog+`\[\d+\]@\d+: CustomerConfirmedMenu "s1-c" menu=menu-a, MatchExpired "stale-expiry"`, r.stdout)
	require.Contains(t, r.stderr, "1 violations")

	// The same, as JSON.
	r = runCmd(t, nil, append(args, "--json")...)
	require.Equal(t, 1, r.code)
	var rep struct {
		OK        bool `json:"ok"`
		Offending []struct {
			OrderID  string   `json:"order_id"`
			Problems []string `json:"problems"`
		} `json:"offending"`
	}
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &rep))
	require.False(t, rep.OK)
	require.Len(t, rep.Offending, 1)
	require.Equal(t, "s1", rep.Offending[0].OrderID)
	require.Contains(t, rep.Offending[0].Problems[0], "is expired (MatchExpired) but ConfirmOrder exists")

	// --changelog-topic -: the changelog is not audited, and the rest holds.
	r = runCmd(t, nil, append(args, "--changelog-topic", "-")...)
	require.Equal(t, 0, r.code)
	require.Contains(t, r.stdout, "changelog not audited: --changelog-topic - was given\n")

	// A --changelog-topic that does not exist is an error, not a skip.
	r = runCmd(t, nil, append(args, "--changelog-topic", "nope")...)
	require.Equal(t, 1, r.code)
	require.Contains(t, r.stderr, "topic nope does not exist")
}

func TestDerivedChangelog(t *testing.T) {
	for events, want := range map[string]string{
		"catering-events":     "catering-match-changelog",
		"shop-events":         "shop-changelog",
		"a-b-1-events":        "a-b-1-changelog",
		"-events":             "",
		"events":              "",
		"ev-3":                "",
		"catering-events-dlq": "",
	} {
		require.Equal(t, want, derivedChangelog(events), events)
	}
}
