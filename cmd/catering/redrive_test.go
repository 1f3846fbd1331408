package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/catering-match/catering-match/internal/catering"
	"github.com/catering-match/catering-match/processor"
	"github.com/catering-match/catering-match/state"
	"github.com/catering-match/catering-match/topics"
)

func TestRedriveUsageErrors(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"redrive", "extra"}, `unexpected arguments ["extra"]`},
		{[]string{"redrive", "--reason", "history full"}, `unknown kind "history full"`},
		{[]string{"redrive", "--reason", "process history full"}, "history_full"},
		{[]string{"redrive", "--reason", "history_full,bogus"}, `unknown kind "bogus"`},
		{[]string{"redrive", "--from", "-1"}, "--from -1 must not be negative"},
		{[]string{"redrive", "--from", "5", "--to", "5"}, "--to 5 must be above --from 5"},
		{[]string{"redrive", "--to", "-2"}, "--to -2 must be an offset"},
		{[]string{"redrive", "--partition", "-2"}, "--partition -2"},
		{[]string{"redrive", "--batch", "0"}, "--batch 0 must be at least 1"},
		{[]string{"redrive", "--wait", "-1s"}, "--wait -1s must not be negative"},
		{[]string{"redrive", "--redrive-group", "a b"}, `--redrive-group "a b"`},
		{[]string{"redrive", "--redrive-group", "catering-match"}, "give redrive a group of its own"},
		{[]string{"redrive", "--dlq-topic", "x", "--events-topic", "x"}, "name two different topics"},
		{[]string{"redrive", "--brokers", "localhost"}, `--brokers "localhost"`},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			r := runCmd(t, nil, tc.args...)
			require.Equal(t, 2, r.code)
			require.Empty(t, r.stdout)
			require.Contains(t, r.stderr, tc.want)
		})
	}
	r := runCmd(t, nil, "redrive", "-h")
	require.Equal(t, 0, r.code)
	for _, w := range []string{"CATERING_REASON", "CATERING_REDRIVE_GROUP", "(default catering-redrive)", "CATERING_DRY_RUN", "(default 30s)", "inclusive", "exclusive", "history_full"} {
		require.Contains(t, r.stderr, w)
	}
}

func TestRedriveMissingPartition(t *testing.T) {
	e := newEnv(t)
	r := runCmd(t, nil, "redrive", "--brokers", e.addr, "--dlq-topic", e.names.DLQ, "--events-topic", e.names.Events, "--partition", "7")
	require.Equal(t, 2, r.code)
	require.Contains(t, r.stderr, "--partition 7: "+e.names.DLQ+" has partitions 0 to 2")
	r = runCmd(t, nil, "redrive", "--brokers", e.addr, "--dlq-topic", "nope", "--events-topic", e.names.Events)
	require.Equal(t, 1, r.code)
	require.Contains(t, r.stderr, "topic nope does not exist")
}

// The dlq-reason texts the service writes map to the kinds it counts them
// under: --reason takes those kinds.
func TestReasonKindOfServiceReasons(t *testing.T) {
	long := strings.Repeat("x", 129)
	for _, c := range []struct{ key, value string }{
		{"", `{"id":"a","type":"T","order_id":"k"}`},
		{"k", `nope`},
		{"k", `{"id":"a"`},
		{"k", `{"type":"T","order_id":"k"}`},
		{"k", `{"id":"a","type":"T"}`},
		{"k", `{"id":"","type":"T","order_id":"k"}`},
		{"k", `{"id":7,"type":"T","order_id":"k"}`},
		{"k", `{"id":"a","type":"T","order_id":"k","menu_id":["x y"]}`},
		{"k", `{"id":"` + long + `","type":"T","order_id":"k"}`},
		{"k", `{"id":"a","type":"T","order_id":"k","menu_id":"` + long + `"}`},
		{"k", `{"id":"a","type":"T","order_id":"other key"}`},
		{"k\"q", `{"id":"a","type":"T","order_id":"x\"y"}`},
	} {
		_, err := topics.DecodeEvent([]byte(c.key), []byte(c.value))
		var m *topics.MalformedError
		require.True(t, errors.As(err, &m), "%q is malformed", c.value)
		require.Equal(t, m.Kind, reasonKind(m.Reason), "reason %q", m.Reason)
	}
	require.Equal(t, kindHistoryFull, reasonKind(processor.ReasonHistoryFull))
	require.Equal(t, topics.MalformedKeyMismatch, reasonKind(`process key "a" differs from the record key "b"`))
	require.Equal(t, kindOther, reasonKind("malformed"))
	require.Equal(t, kindOther, reasonKind(""))
}

func TestLedger(t *testing.T) {
	l, err := parseLedger(10, "")
	require.NoError(t, err)
	l.begin(0, 0)
	hf, nj := l.lane(kindHistoryFull), l.lane(topics.MalformedNotObject)
	require.True(t, l.redrive(hf, 10)) // contiguous: the cursor moves
	nj.hold(11)                        // left out: its lane stops
	hf.hold(12)                        // left out too
	require.True(t, l.redrive(hf, 14)) // above a pending one: a span
	require.True(t, l.redrive(hf, 16)) // grows the span over 15 (read, not of its lane or done)
	l.advance(20)
	require.Equal(t, int64(11), l.offset())
	meta := l.encode()
	require.Equal(t, "catering-redrive/1 *=20 history_full=12:14-16 not_json_object=11", meta)

	back, err := parseLedger(l.offset(), meta)
	require.NoError(t, err)
	require.Equal(t, meta, back.encode())
	for off, done := range map[int64]bool{10: true, 12: false, 13: false, 14: true, 15: true, 16: true, 17: false} {
		require.Equal(t, done, back.lane(kindHistoryFull).has(off), "history_full %d", off)
	}
	require.True(t, back.lane(topics.MalformedEmpty).has(19), "a kind never seen is done below rest's cursor")
	require.False(t, back.lane(topics.MalformedNotObject).has(11))

	// Redriving the held one closes the gap: the spans merge into the cursor.
	back.begin(0, 0)
	back.lane(topics.MalformedNotObject).hold(11) // read again, and left out again
	require.True(t, back.redrive(back.lane(kindHistoryFull), 12))
	back.advance(20)
	require.Equal(t, "catering-redrive/1 *=20 not_json_object=11", back.encode())

	// The ledger never outgrows its limit: a pick that would is refused.
	small, _ := parseLedger(0, "")
	small.limit = 60
	small.begin(0, 0)
	ln := small.lane(kindOther)
	ln.hold(0)
	n := 0
	for off := int64(1); off < 100; off += 2 {
		ln.open = false // scattered picks
		if small.redrive(ln, off) {
			n++
		}
	}
	require.Positive(t, n)
	require.Less(t, n, 50)
	require.LessOrEqual(t, len(small.encode()), 60)

	for _, bad := range []string{"member-1234", "catering-redrive/1 x", "catering-redrive/1 a=b", "catering-redrive/1 a=5:4", "catering-redrive/1 a=5:7,6"} {
		_, err := parseLedger(0, bad)
		require.Error(t, err, bad)
	}
}

// Every transaction's offset commit carries the current ledger of each
// partition the run reads (changed in this transaction or an earlier one),
// and what was committed before for the others.
func TestSetLedgers(t *testing.T) {
	req := kmsg.NewPtrTxnOffsetCommitRequest()
	rt := kmsg.NewTxnOffsetCommitRequestTopic()
	rt.Topic = "dlq"
	for p := range int32(4) { // kgo's read positions
		rp := kmsg.NewTxnOffsetCommitRequestTopicPartition()
		rp.Partition, rp.Offset, rp.Metadata = p, 100+int64(p), kmsg.StringPtr("member-1")
		rt.Partitions = append(rt.Partitions, rp)
	}
	req.Topics = append(req.Topics, rt)
	ledgers := map[int32]ledgerCommit{0: {5, ledgerVersion + " *=9"}, 1: {7, ledgerVersion}, 4: {3, ledgerVersion}}
	committed := map[int32]kadm.Offset{2: {At: 42, LeaderEpoch: 1, Metadata: ledgerVersion + " *=50"}, 3: {At: -1}}
	setLedgers(req, "dlq", [16]byte{1}, ledgers, committed)

	got := map[int32]string{}
	for _, rp := range req.Topics[0].Partitions {
		got[rp.Partition] = fmt.Sprintf("%d %s", rp.Offset, *rp.Metadata)
	}
	require.Equal(t, map[int32]string{
		0: "5 " + ledgerVersion + " *=9", 1: "7 " + ledgerVersion, 4: "3 " + ledgerVersion, // the run's
		2: "42 " + ledgerVersion + " *=50", // another partition's, as it was
		// 3: never committed and not the run's: nothing
	}, got)
}

// redriveArgs are the flags every run in these tests needs.
func redriveArgs(e env, group string, extra ...string) []string {
	return append([]string{"redrive", "--brokers", e.addr, "--dlq-topic", e.names.DLQ, "--events-topic", e.names.Events,
		"--redrive-group", group}, extra...)
}

// service is the real service, in process, on e's topics.
type service struct {
	group string
	p     *processor.Processor[state.Order]
	stop  func()
}

func runService(t *testing.T, e env, maxHistory int) *service {
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
	var once sync.Once
	s := &service{group: cfg.Group, p: p, stop: func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				require.NoError(t, err)
			case <-time.After(60 * time.Second):
				t.Errorf("processor did not stop")
			}
		})
	}}
	t.Cleanup(s.stop)
	return s
}

func waitUntil(t *testing.T, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		require.True(t, time.Now().Before(deadline), "timed out after %v waiting for %s", within, what)
		time.Sleep(100 * time.Millisecond)
	}
}

func headerValues(r *kgo.Record, key string) []string {
	var out []string
	for _, h := range r.Headers {
		if h.Key == key {
			out = append(out, string(h.Value))
		}
	}
	return out
}

// copiesByOrigin indexes the redriven copies on the events topic by their
// redriven-from header, requiring each at most once.
func copiesByOrigin(t *testing.T, recs []*kgo.Record) map[string]*kgo.Record {
	t.Helper()
	out := map[string]*kgo.Record{}
	for _, r := range recs {
		from := headerValues(r, headerRedrivenFrom)
		if len(from) == 0 {
			continue
		}
		require.Len(t, from, 1, "one redriven-from header")
		require.NotContains(t, out, from[0], "dead letter %s redriven twice", from[0])
		out[from[0]] = r
	}
	return out
}

func coord(r *kgo.Record) string { return fmt.Sprintf("%d/%d", r.Partition, r.Offset) }

// (1) An event refused because its process history was full is redriven
// after the service restarts with a higher --max-history: it is applied,
// completes the match, and the one ConfirmOrder is issued.
func TestRedriveHistoryFullAfterRaisingMaxHistory(t *testing.T) {
	e := newEnv(t)
	n := e.names
	svc := runService(t, e, 2)
	ev := func(id, typ, menu string) *kgo.Record {
		return &kgo.Record{Topic: n.Events, Key: []byte("o1"), Value: eventValue(id, typ, "o1", menu)}
	}
	refused := ev("cat-a", state.CatererConfirmedMenu, "a")
	refused.Headers = []kgo.RecordHeader{{Key: "traceparent", Value: []byte("00-aa-bb-01")}, {Key: "dup", Value: []byte("1")}, {Key: "dup", Value: []byte("2")}}
	producer := newClient(t, e.addr, kgo.ProducerLinger(0))
	require.NoError(t, producer.ProduceSync(testCtx(t), ev("cust-a", state.CustomerConfirmedMenu, "a"), ev("cust-b", state.CustomerConfirmedMenu, "b"), refused).FirstErr())

	var dead []*kgo.Record
	waitUntil(t, 30*time.Second, "the refused event in the DLQ", func() bool {
		dead = readToEnd(t, e.addr, n.DLQ)
		return len(dead) == 1
	})
	require.Equal(t, []string{processor.ReasonHistoryFull}, headerValues(dead[0], headerReason))
	require.Empty(t, readToEnd(t, e.addr, n.Commands))

	svc.stop()
	svc = runService(t, e, 10)
	r := runCmd(t, nil, redriveArgs(e, "rg", "--group", svc.group, "--reason", "history_full", "--wait", "20s")...)
	require.Equal(t, 0, r.code, r.stderr)
	require.Contains(t, r.stdout, fmt.Sprintf("dlq=%s reason=history_full key=\"o1\" original=%s/%d/%d redriven=%s/%d/",
		coord(dead[0]), n.Events, refused.Partition, refused.Offset, n.Events, refused.Partition))
	require.Contains(t, r.stdout, "1 redriven, 0 returned to the DLQ (still malformed)\n")

	cmds := readToEnd(t, e.addr, n.Commands)
	require.Len(t, cmds, 1, "one ConfirmOrder")
	c, err := topics.DecodeConfirmOrder(cmds[0].Value)
	require.NoError(t, err)
	require.Equal(t, "o1", c.OrderID)
	require.Equal(t, "a", c.MenuID)
	require.Equal(t, "cat-a", c.CausationID)

	// The copy: same key, value and partition; the original's headers, in
	// order, then redriven-from; no dlq-* header.
	copies := copiesByOrigin(t, readToEnd(t, e.addr, n.Events))
	cp := copies[coord(dead[0])]
	require.NotNil(t, cp)
	require.Equal(t, refused.Partition, cp.Partition)
	require.Equal(t, refused.Key, cp.Key)
	require.Equal(t, refused.Value, cp.Value)
	require.Equal(t, append(append([]kgo.RecordHeader{}, refused.Headers...), kgo.RecordHeader{Key: headerRedrivenFrom, Value: []byte(coord(dead[0]))}), cp.Headers)
	require.Len(t, readToEnd(t, e.addr, n.DLQ), 1, "nothing returned")

	// Again: nothing to do.
	r = runCmd(t, nil, redriveArgs(e, "rg", "--group", svc.group, "--wait", "20s")...)
	require.Equal(t, 0, r.code)
	require.Contains(t, r.stdout, "0 redriven\n")
	require.Contains(t, r.stdout, "nothing to read: group rg has been through "+n.DLQ+" to its end")
	require.Len(t, readToEnd(t, e.addr, n.Commands), 1)
}

// (2) A dead letter that is still malformed goes back to the DLQ when the
// service processes its copy; redrive waits for that and says so. The
// returned dead letter is a new one, and a later run redrives it (once).
func TestRedriveStillMalformedReturns(t *testing.T) {
	e := newEnv(t)
	n := e.names
	svc := runService(t, e, 0)
	bad := &kgo.Record{Topic: n.Events, Key: []byte("o2"), Value: []byte("not json"), Headers: []kgo.RecordHeader{{Key: "trace", Value: []byte("t-2")}}}
	require.NoError(t, newClient(t, e.addr).ProduceSync(testCtx(t), bad).FirstErr())
	var dead []*kgo.Record
	waitUntil(t, 30*time.Second, "the malformed record in the DLQ", func() bool {
		dead = readToEnd(t, e.addr, n.DLQ)
		return len(dead) == 1
	})

	r := runCmd(t, nil, redriveArgs(e, "rg", "--group", svc.group, "--wait", "20s")...)
	require.Equal(t, 0, r.code, r.stderr)
	require.Contains(t, r.stdout, "1 redriven, 1 returned to the DLQ (still malformed)\n")
	dead = readToEnd(t, e.addr, n.DLQ)
	require.Len(t, dead, 2)
	first, back := dead[0], dead[1] // the first, and the one returned (it carries redriven-from)
	if headerValues(first, headerRedrivenFrom) != nil {
		first, back = back, first
	}
	require.Contains(t, r.stdout, fmt.Sprintf("returned dlq=%s reason=not_json_object key=\"o2\" redriven-from=%s\n", coord(back), coord(first)))
	// The returned dead letter carries the original's header, the copy's
	// redriven-from, and the service's four headers for the copy.
	cp := copiesByOrigin(t, readToEnd(t, e.addr, n.Events))[coord(first)]
	require.NotNil(t, cp)
	require.Equal(t, []string{"trace", headerRedrivenFrom, headerReason, headerTopic, headerPartition, headerOffset}, headerKeys(back))
	require.Equal(t, []string{strconv.FormatInt(cp.Offset, 10)}, headerValues(back, headerOffset))

	// The next run redrives the returned one, not the first again.
	r = runCmd(t, nil, redriveArgs(e, "rg", "--group", svc.group, "--wait", "20s")...)
	require.Equal(t, 0, r.code, r.stderr)
	require.Contains(t, r.stdout, "dlq="+coord(back)+" ")
	require.NotContains(t, r.stdout, "dlq="+coord(first)+" ")
	require.Contains(t, r.stdout, "1 redriven, 1 returned to the DLQ (still malformed)\n")
	copies := copiesByOrigin(t, readToEnd(t, e.addr, n.Events)) // fails on a doubled copy
	require.Len(t, copies, 2)
	require.Len(t, readToEnd(t, e.addr, n.DLQ), 3)
}

func headerKeys(r *kgo.Record) []string {
	var out []string
	for _, h := range r.Headers {
		out = append(out, h.Key)
	}
	return out
}

// deadLetterAt is a dead letter as the service writes it, for a record of
// topic at partition/offset.
func deadLetterAt(dlq string, dlqPartition int32, key, value, reason, topic string, partition int32, offset int64, own ...kgo.RecordHeader) *kgo.Record {
	hs := append(own,
		kgo.RecordHeader{Key: headerReason, Value: []byte(reason)},
		kgo.RecordHeader{Key: headerTopic, Value: []byte(topic)},
		kgo.RecordHeader{Key: headerPartition, Value: []byte(strconv.Itoa(int(partition)))},
		kgo.RecordHeader{Key: headerOffset, Value: []byte(strconv.FormatInt(offset, 10))})
	return &kgo.Record{Topic: dlq, Partition: dlqPartition, Key: []byte(key), Value: []byte(value), Headers: hs}
}

// writeDLQ writes recs to their partitions, one transaction each, as the
// service does (so the DLQ has commit markers between them).
func writeDLQ(t *testing.T, e env, recs ...*kgo.Record) {
	t.Helper()
	cl := newClient(t, e.addr, kgo.TransactionalID("dlq-writer-"+e.names.DLQ), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	for _, r := range recs {
		transact(t, cl, true, r)
	}
}

// (4) --dry-run writes nothing, and the filters select exactly what they
// should; runs with different filters one after the other redrive every
// dead letter once, and only what each selected.
func TestRedriveDryRunAndFilters(t *testing.T) {
	e := newEnv(t)
	n := e.names
	const hf = processor.ReasonHistoryFull
	nj := "value is not a JSON object"
	dl := func(p int32, key, reason string, origPart int32, origOff int64, own ...kgo.RecordHeader) *kgo.Record {
		return deadLetterAt(n.DLQ, p, key, `{"n":"`+key+`"}`, reason, n.Events, origPart, origOff, own...)
	}
	ownHeaders := []kgo.RecordHeader{
		{Key: "a", Value: []byte("1")}, {Key: headerReason, Value: []byte("older, carried by the record")},
		{Key: headerRedrivenFrom, Value: []byte("9/9")}, {Key: "dup", Value: []byte("x")}, {Key: "dup", Value: []byte{0, 0xff}},
	}
	p0 := []*kgo.Record{
		dl(0, "o1", hf, 0, 10),
		dl(0, "o2", nj, 1, 11, ownHeaders...),
		dl(0, "o1", hf, 0, 12),
		dl(0, "o3", hf, 2, 13),
		dl(0, "o1", nj, 0, 14),
	}
	garbled := dl(1, "o6", "something else", 1, 21)
	garbled.Headers = garbled.Headers[:3] // no dlq-offset
	p1 := []*kgo.Record{
		dl(1, "o2", hf, 1, 20),
		dl(1, "o4", "required field id is missing", 2, 21),
		garbled,
		deadLetterAt(n.DLQ, 1, "o5", "{}", "something else", "someone-else", 0, 3),
	}
	writeDLQ(t, e, append(append([]*kgo.Record{}, p0...), p1...)...)
	redrivable := append(append([]*kgo.Record{}, p0...), p1[:2]...)

	lines := func(stdout string) []string {
		var out []string
		for _, l := range strings.Split(stdout, "\n") {
			if strings.HasPrefix(l, "dlq=") {
				out = append(out, strings.Fields(l)[0])
			}
		}
		return out
	}
	want := func(recs ...*kgo.Record) []string {
		var out []string
		for _, r := range recs {
			out = append(out, "dlq="+coord(r))
		}
		return out
	}
	dry := func(extra ...string) result {
		return runCmd(t, nil, redriveArgs(e, "rg", append([]string{"--dry-run"}, extra...)...)...)
	}

	// No filter: everything redrivable, and the two that cannot go.
	r := dry()
	require.Equal(t, 1, r.code)
	require.ElementsMatch(t, want(redrivable...), lines(r.stdout))
	require.Contains(t, r.stdout, fmt.Sprintf(`dlq=%s reason=not_json_object key="o2" original=%s/1/11`+"\n", coord(p0[1]), n.Events))
	require.Contains(t, r.stdout, "dry run: would redrive 7 dead letters")
	require.Contains(t, r.stderr, "dead letter "+coord(garbled)+` (reason=other key="o6") not redriven: it has no dlq-offset header`)
	require.Contains(t, r.stderr, "it came from topic someone-else, not --events-topic "+n.Events)
	require.Contains(t, r.stderr, "2 dead letters selected but not redriven")

	// The filters.
	for _, tc := range []struct {
		args []string
		want []*kgo.Record
	}{
		{[]string{"--reason", "history_full"}, []*kgo.Record{p0[0], p0[2], p0[3], p1[0]}},
		{[]string{"--reason", "history_full", "--order", "o1"}, []*kgo.Record{p0[0], p0[2]}},
		{[]string{"--reason", "not_json_object,missing_field"}, []*kgo.Record{p0[1], p0[4], p1[1]}},
		{[]string{"--order", "o2"}, []*kgo.Record{p0[1], p1[0]}},
		{[]string{"--partition", "0", "--from", strconv.FormatInt(p0[1].Offset, 10), "--to", strconv.FormatInt(p0[3].Offset, 10)}, []*kgo.Record{p0[1], p0[2]}},
		{[]string{"--partition", "1", "--to", strconv.FormatInt(p1[1].Offset+1, 10)}, []*kgo.Record{p1[0], p1[1]}},
		{[]string{"--reason", "other", "--order", "o9"}, nil},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			r := dry(tc.args...)
			require.Equal(t, 0, r.code)
			require.ElementsMatch(t, want(tc.want...), lines(r.stdout))
		})
	}
	require.Zero(t, recordCount(t, e.addr, n.Events), "a dry run writes nothing")
	offs, err := kadm.NewClient(newClient(t, e.addr)).FetchOffsets(testCtx(t), "rg")
	if err == nil {
		require.Empty(t, offs, "a dry run commits no offsets")
	}

	real := func(code int, extra ...string) result {
		t.Helper()
		r := runCmd(t, nil, redriveArgs(e, "rg", append([]string{"--wait", "0"}, extra...)...)...)
		require.Equal(t, code, r.code, r.stderr)
		return r
	}
	// Two of order o1's, then one picked by offset: the ledger keeps the
	// holes, and the next run for the kind takes only what is left.
	r = real(0, "--reason", "history_full", "--order", "o1")
	require.ElementsMatch(t, want(p0[0], p0[2]), lines(r.stdout))
	r = real(0, "--partition", "0", "--reason", "history_full", "--from", strconv.FormatInt(p0[3].Offset, 10))
	require.ElementsMatch(t, want(p0[3]), lines(r.stdout))
	r = dry("--reason", "history_full")
	require.ElementsMatch(t, want(p1[0]), lines(r.stdout))
	r = real(0, "--reason", "history_full")
	require.ElementsMatch(t, want(p1[0]), lines(r.stdout))
	require.Contains(t, r.stdout, "already redriven by group rg")
	r = real(0, "--reason", "not_json_object,missing_field")
	require.ElementsMatch(t, want(p0[1], p0[4], p1[1]), lines(r.stdout))
	// Everything left: only the two that cannot go, again.
	r = real(1)
	require.Empty(t, lines(r.stdout))
	require.Contains(t, r.stdout, "0 redriven\n")
	require.Contains(t, r.stdout, "2 held back")
	require.Contains(t, r.stderr, "2 dead letters selected but not redriven")

	// Each redrivable dead letter is on the events topic once, as it came.
	copies := copiesByOrigin(t, readToEnd(t, e.addr, n.Events))
	require.Len(t, copies, len(redrivable))
	for _, d := range redrivable {
		cp := copies[coord(d)]
		require.NotNil(t, cp, "copy of %s", coord(d))
		orig := parseDeadLetter(d)
		require.Equal(t, orig.partition, cp.Partition)
		require.Equal(t, d.Key, cp.Key)
		require.Equal(t, d.Value, cp.Value)
		require.Empty(t, headerValues(cp, headerTopic))
		require.Equal(t, []string{coord(d)}, headerValues(cp, headerRedrivenFrom))
	}
	cp := copies[coord(p0[1])]
	require.Equal(t, []kgo.RecordHeader{
		{Key: "a", Value: []byte("1")}, {Key: headerReason, Value: []byte("older, carried by the record")},
		{Key: "dup", Value: []byte("x")}, {Key: "dup", Value: []byte{0, 0xff}},
		{Key: headerRedrivenFrom, Value: []byte(coord(p0[1]))},
	}, cp.Headers, "own headers byte for byte and in order; only the service's dlq-* and the old redriven-from replaced")
}

// (3) A run killed (SIGKILL) in the middle, before or after a transaction
// committed, then run again: every dead letter is on the events topic
// exactly once (read_committed).
func TestRedriveKilledAndRerun(t *testing.T) {
	for _, stage := range []string{"produced", "committed"} {
		t.Run("killed after "+stage, func(t *testing.T) {
			e := newEnv(t)
			n := e.names
			// Each DLQ partition starts with a dead letter the run leaves
			// out: the group's offset stays before it, and the rerun reads
			// the committed ones again and must know them from the ledger.
			var all, dead []*kgo.Record
			for p := range int32(testPartitions) {
				all = append(all, deadLetterAt(n.DLQ, p, "junk", "nope", "value is not a JSON object", n.Events, p, 99))
			}
			for i := range 9 {
				d := deadLetterAt(n.DLQ, int32(i%testPartitions), fmt.Sprintf("o%d", i), `{"i":`+strconv.Itoa(i)+`}`,
					processor.ReasonHistoryFull, n.Events, int32(i%testPartitions), int64(100+i))
				dead, all = append(dead, d), append(all, d)
			}
			writeDLQ(t, e, all...)
			args := redriveArgs(e, "rg", "--wait", "0", "--batch", "3", "--reason", "history_full")

			child := exec.Command(os.Args[0], "-test.run=^TestRedriveChild$", "-test.count=1")
			enc, _ := json.Marshal(args[1:])
			child.Env = append(os.Environ(), "REDRIVE_TEST_CHILD="+string(enc), "REDRIVE_TEST_KILL_AFTER="+stage)
			var out bytes.Buffer
			child.Stdout, child.Stderr = &out, &out
			err := child.Run()
			t.Logf("child:\n%s", out.String())
			var exitErr *exec.ExitError
			require.ErrorAs(t, err, &exitErr, "the child must be killed, not finish")
			ws, ok := exitErr.Sys().(syscall.WaitStatus)
			require.True(t, ok && ws.Signaled() && ws.Signal() == syscall.SIGKILL, "child killed by SIGKILL: %v", err)

			r := runCmd(t, nil, args...)
			require.Equal(t, 0, r.code, r.stderr)
			copies := copiesByOrigin(t, readToEnd(t, e.addr, n.Events)) // fails on a doubled copy
			require.Len(t, copies, len(dead))
			for _, d := range dead {
				require.Contains(t, copies, coord(d))
			}
			// Between them, the two runs printed every dead letter once: the
			// killed one what it committed, the second the rest.
			before, after := redrivenLines(out.String()), redrivenLines(r.stdout)
			require.Len(t, append(before, after...), len(dead))
			require.ElementsMatch(t, copyKeys(copies), append(before, after...))
			uncommitted := readUncommitted(t, e.addr, n.Events)
			if stage == "produced" {
				// The killed run's copies are there, aborted: the kill did
				// cut a transaction in half.
				require.Empty(t, before)
				require.Greater(t, len(uncommitted), len(dead))
			} else {
				require.NotEmpty(t, before)
				require.Len(t, uncommitted, len(dead), "nothing aborted")
			}
			// And once more, one dead letter per transaction: nothing is
			// left, although the group's offset is still before the junk.
			r = runCmd(t, nil, append(args, "--batch", "1")...)
			require.Equal(t, 0, r.code, r.stderr)
			require.Empty(t, redrivenLines(r.stdout))
			require.Contains(t, r.stdout, fmt.Sprintf("%d already redriven by group rg", len(dead)))
		})
	}
}

// redrivenLines returns the dlq coordinates of the "dlq=" lines of out.
func redrivenLines(out string) []string {
	var got []string
	for _, l := range strings.Split(out, "\n") {
		if strings.HasPrefix(l, "dlq=") {
			got = append(got, strings.TrimPrefix(strings.Fields(l)[0], "dlq="))
		}
	}
	return got
}

func copyKeys(m map[string]*kgo.Record) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

// Two runs with one group: the second fences the first in the middle of a
// transaction, does the work, and the first stops; nothing goes twice.
func TestRedriveTwoRunsFence(t *testing.T) {
	e := newEnv(t)
	n := e.names
	var dead []*kgo.Record
	for i := range 6 {
		dead = append(dead, deadLetterAt(n.DLQ, int32(i%testPartitions), fmt.Sprintf("o%d", i), "{}",
			processor.ReasonHistoryFull, n.Events, int32(i%testPartitions), int64(i)))
	}
	writeDLQ(t, e, dead...)
	args := redriveArgs(e, "rg", "--wait", "0", "--batch", "2")

	var second result
	var stdout bytes.Buffer
	stderr := &trackingWriter{w: &bytes.Buffer{}}
	c, cmd := newRedriveCmd(&stdout, stderr)
	c.hook = func(stage string, txn int) {
		if stage == "produced" && txn == 1 {
			second = runCmd(t, nil, args...)
		}
	}
	err := cmd.ParseAndRun(testCtx(t), args[1:])
	t.Logf("first run: %v\nstdout:\n%s\nstderr:\n%s", err, stdout.String(), stderr.w)
	require.Error(t, err)
	require.Contains(t, err.Error(), "another catering redrive with --redrive-group rg started and took over")
	require.Empty(t, redrivenLines(stdout.String()), "the first committed nothing")
	require.Equal(t, 0, second.code, second.stderr)
	require.Len(t, redrivenLines(second.stdout), len(dead))
	require.Len(t, copiesByOrigin(t, readToEnd(t, e.addr, n.Events)), len(dead))
}

// Without the service, the copies are made and committed, but redrive
// cannot say what became of them: it says so and exits 1.
func TestRedriveServiceNotRunning(t *testing.T) {
	e := newEnv(t)
	d := deadLetterAt(e.names.DLQ, 1, "o1", "{}", "value is not a JSON object", e.names.Events, 2, 5)
	writeDLQ(t, e, d)
	r := runCmd(t, nil, redriveArgs(e, "rg", "--group", "nobody", "--wait", "1s")...)
	require.Equal(t, 1, r.code)
	require.Contains(t, r.stdout, "1 redriven, 0 returned to the DLQ (still malformed) so far; 1 not yet processed by the service\n")
	require.Contains(t, r.stderr, "redrive: waiting up to 1s for group nobody to process 1 copy")
	require.Contains(t, r.stderr, "the service (group nobody) did not process 1 copy within --wait 1s")
	require.Len(t, copiesByOrigin(t, readToEnd(t, e.addr, e.names.Events)), 1)
}

// TestRedriveChild is the redrive that TestRedriveKilledAndRerun kills:
// it runs only in the child process.
func TestRedriveChild(t *testing.T) {
	enc := os.Getenv("REDRIVE_TEST_CHILD")
	if enc == "" {
		t.Skip("only run by TestRedriveKilledAndRerun, as a child process")
	}
	var args []string
	require.NoError(t, json.Unmarshal([]byte(enc), &args))
	stage := os.Getenv("REDRIVE_TEST_KILL_AFTER")
	stderr := &trackingWriter{w: os.Stderr}
	c, cmd := newRedriveCmd(os.Stdout, stderr)
	c.hook = func(s string, txn int) {
		if s == stage && txn == 1 {
			syscall.Kill(os.Getpid(), syscall.SIGKILL) //nolint:errcheck // the point is not to come back
			select {}
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	err := cmd.ParseAndRun(ctx, args)
	os.Exit(exitCode(err, stderr)) // only reached if the hook never fired: the parent fails
}

// readUncommitted reads topic (read_uncommitted: aborted records too) to
// its current end, without the markers.
func readUncommitted(t *testing.T, addr, topic string) []*kgo.Record {
	t.Helper()
	return readToEndAt(t, addr, topic, kgo.ReadUncommitted())
}
