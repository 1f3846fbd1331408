package replay

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/catering-match/catering-match/internal/catering"
	"github.com/catering-match/catering-match/internal/embedded"
	"github.com/catering-match/catering-match/processor"
	"github.com/catering-match/catering-match/state"
)

// fixturePath is a changelog the service would have written for 3000 of
// the bench's orders and 160 whose caterer withdraws or restores a
// confirmation, on 6 partitions: pending, confirmed and expired processes,
// tombstones and superseded records. It is rebuilt by
//
//	go test ./internal/bench -run TestReplayFixture -update-replay-fixture
//
// (internal/bench/replay_fixture_test.go, which uses the bench's workload
// generator). The tests below count on what it holds, not on its bytes.
const fixturePath = "testdata/changelog.jsonl.gz"

const fixturePartitions = 6

// fixtureRecord is one line of the fixture: a changelog record.
type fixtureRecord struct {
	Partition int32           `json:"partition"`
	Offset    int64           `json:"offset"`
	Key       string          `json:"key"`
	Value     json.RawMessage `json:"value"` // null: a tombstone
}

func readFixture(t *testing.T) []fixtureRecord {
	t.Helper()
	f, err := os.Open(fixturePath)
	require.NoError(t, err)
	defer f.Close()
	zr, err := gzip.NewReader(f)
	require.NoError(t, err)
	var recs []fixtureRecord
	sc := bufio.NewScanner(zr)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var r fixtureRecord
		require.NoError(t, json.Unmarshal(sc.Bytes(), &r))
		if string(r.Value) == "null" {
			r.Value = nil
		}
		recs = append(recs, r)
	}
	require.NoError(t, sc.Err())
	return recs
}

var topicSeq atomic.Int64

type broker struct {
	addr string
	adm  *kadm.Client
	cl   *kgo.Client // manual partitioner
}

func startBroker(t *testing.T) *broker {
	t.Helper()
	b, err := embedded.StartAnyPort(embedded.Options{})
	require.NoError(t, err)
	t.Cleanup(b.Close)
	cl, err := kgo.NewClient(kgo.SeedBrokers(b.Addr()), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	require.NoError(t, err)
	t.Cleanup(cl.Close)
	return &broker{addr: b.Addr(), adm: kadm.NewClient(cl), cl: cl}
}

// topic creates a compacted topic of its own for the test.
func (b *broker) topic(t *testing.T, partitions int32) string {
	t.Helper()
	name := fmt.Sprintf("changelog-%d", topicSeq.Add(1))
	policy := "compact"
	_, err := b.adm.CreateTopic(testCtx(t), partitions, 1, map[string]*string{"cleanup.policy": &policy}, name)
	require.NoError(t, err)
	return name
}

// replay runs Run against def with a client of its own, as the catering
// command does.
func (b *broker) replay(t *testing.T, cfg Config, def processor.Definition[state.Order]) (*Report, string) {
	t.Helper()
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(b.addr)}, ClientOpts()...)...)
	require.NoError(t, err)
	defer cl.Close()
	var progress bytes.Buffer // not safe for concurrent use: Run serializes its lines
	cfg.Progress, cfg.ProgressEvery = &progress, time.Millisecond
	if cfg.Limits == (state.Limits{}) {
		cfg.Limits = state.DefaultLimits()
	}
	cfg.Limits.Retention = 0 // plays no part
	rep, err := Run(testCtx(t), cl, cfg, def)
	require.NoError(t, err)
	return rep, progress.String()
}

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	return ctx
}

func text(t *testing.T, rep *Report) string {
	t.Helper()
	var b strings.Builder
	require.NoError(t, rep.WriteText(&b))
	t.Logf("report:\n%s", b.String())
	return b.String()
}

// withProcess returns the service's definition with its process changed by
// f: a build with a deliberately changed rule.
func withProcess(f func(*state.Definition[state.Order])) processor.Definition[state.Order] {
	def := catering.Definition()
	def.Process = state.Catering() // a projection of its own: When changes it in place
	f(&def.Process)
	return def
}

// The fixture loaded into the embedded broker replays without a
// difference on the service's definition; each deliberately changed rule
// is caught, by the kinds of difference it makes, with the offending
// orders and where their records are.
func TestFixture(t *testing.T) {
	recs := readFixture(t)
	b := startBroker(t)
	topic := b.topic(t, fixturePartitions)
	batch := make([]*kgo.Record, len(recs))
	for i, r := range recs {
		batch[i] = &kgo.Record{Topic: topic, Partition: r.Partition, Key: []byte(r.Key), Value: r.Value}
	}
	require.NoError(t, b.cl.ProduceSync(testCtx(t), batch...).FirstErr())
	// What the fixture holds, by its own records.
	latest := map[string]fixtureRecord{}
	for i, r := range recs {
		require.Equal(t, r.Offset, batch[i].Offset, "the broker keeps the fixture's offsets")
		latest[r.Key] = r
	}
	live, statuses := 0, map[string]int{}
	for _, r := range latest {
		if r.Value != nil {
			live++
			var v struct{ History []struct{ Type string } }
			require.NoError(t, json.Unmarshal(r.Value, &v))
			statuses[v.History[len(v.History)-1].Type]++
		}
	}
	require.Less(t, live, len(latest), "the fixture has tombstones")
	require.Less(t, len(latest), len(recs), "the fixture has superseded records")
	require.Positive(t, statuses[state.ConfirmOrderIssued])
	require.Positive(t, statuses[state.MatchExpired])
	require.Positive(t, live-statuses[state.ConfirmOrderIssued]-statuses[state.MatchExpired], "pending processes")

	t.Run("this build", func(t *testing.T) {
		rep, progress := b.replay(t, Config{Topic: topic, Show: 10}, catering.Definition())
		require.Equal(t, fmt.Sprintf("replayed %d processes from %d partitions: no differences\n", live, fixturePartitions), text(t, rep))
		require.True(t, rep.OK())
		require.Equal(t, int64(len(recs)), rep.Records)
		require.Empty(t, rep.Counts)
		for p := range fixturePartitions {
			require.Contains(t, progress, fmt.Sprintf("replay: partition %d (%d of %d): ", p, p+1, fixturePartitions))
		}
	})

	for _, tc := range []struct {
		name   string
		def    processor.Definition[state.Order]
		limits func(*state.Limits)
		want   []Kind // with a count above 0; every other kind 0
		orders map[string][]Kind
	}{
		{
			name: "declines ignored",
			def: withProcess(func(d *state.Definition[state.Order]) {
				d.Projection.When(state.CatererDeclinedMenu, func(o state.Order, _ state.Entry) state.Order { return o })
			}),
			want: []Kind{KindMenus, KindDecisionDiffers, KindDecisionMissing, KindNextEvent},
			orders: map[string][]Kind{
				"replay-w-0000": {KindMenus, KindNextEvent},                      // confirm, decline: pending
				"replay-w-0001": {KindMenus, KindDecisionMissing, KindNextEvent}, // confirm, decline, customer: pending
				"replay-w-0002": {KindDecisionDiffers},                           // then confirm again: confirmed, but on the customer's
				"replay-w-0003": nil,                                             // decline, customer, confirm: same either way
			},
		},
		{
			name: "never confirms",
			def: withProcess(func(d *state.Definition[state.Order]) {
				d.Decide = func(string, state.Order, state.Entry, time.Time) (state.Entry, bool) { return state.Entry{}, false }
			}),
			want: []Kind{KindDecisionUnexpected, KindNextEvent},
		},
		{
			name: "confirmed menu not folded",
			def: withProcess(func(d *state.Definition[state.Order]) {
				d.Projection.When(state.ConfirmOrderIssued, func(o state.Order, e state.Entry) state.Order {
					o.Status, o.Confirmation = state.Confirmed, &state.Confirmation{CommandID: e.ID}
					return o
				})
			}),
			want: []Kind{KindConfirmedMenu},
		},
		{
			name: "expiry not terminal",
			def: withProcess(func(d *state.Definition[state.Order]) {
				d.Projection.When(state.MatchExpired, func(o state.Order, _ state.Entry) state.Order { return o })
			}),
			want: []Kind{KindStatus},
		},
		{
			name: "another expiry id",
			def: withProcess(func(d *state.Definition[state.Order]) {
				d.Expire = func(key string, _ state.Order, _ time.Time) state.Entry {
					return state.Entry{ID: "expired-" + key, Type: state.MatchExpired}
				}
			}),
			want: []Kind{KindDecisionDiffers, KindNextEvent},
		},
		{
			name:   "max history lowered to 2",
			def:    catering.Definition(),
			limits: func(l *state.Limits) { l.MaxHistory = 2 },
			want:   []Kind{KindEventRefused},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			limits := state.DefaultLimits()
			if tc.limits != nil {
				tc.limits(&limits)
			}
			rep, _ := b.replay(t, Config{Topic: topic, Limits: limits}, tc.def)
			require.False(t, rep.OK())
			require.Equal(t, live, rep.Processes)
			for _, k := range Kinds {
				if contains(tc.want, k) {
					require.Positive(t, rep.Counts[k], "count of %s", k)
				} else {
					require.Zero(t, rep.Counts[k], "count of %s", k)
				}
			}
			require.Len(t, rep.Orders, rep.Differing, "Show 0 keeps every order")
			byKey := map[string]Order{}
			for _, o := range rep.Orders {
				byKey[o.Key] = o
				r := latest[o.Key]
				require.Equal(t, r.Partition, o.Partition, "order %s", o.Key)
				require.Equal(t, r.Offset, o.Offset, "order %s: the offset of its latest record", o.Key)
			}
			for key, want := range tc.orders {
				var got []Kind
				for _, p := range byKey[key].Problems {
					got = append(got, p.Kind)
				}
				require.Equal(t, want, got, "order %s", key)
			}

			// The printed report: the counts, then the first 10 orders
			// with their partition and offset and what differs.
			rep.Orders = rep.Orders[:10]
			out := text(t, rep)
			require.Contains(t, out, fmt.Sprintf("replayed %d processes from %d partitions of %s (%d records): %d orders differ\n", live, fixturePartitions, topic, len(recs), rep.Differing))
			for _, k := range tc.want {
				require.Regexp(t, fmt.Sprintf(`(?m)^  %s +%d$`, k, rep.Counts[k]), out)
			}
			require.Contains(t, out, fmt.Sprintf("first 10 of %d offending orders:\n", rep.Differing))
			require.Equal(t, 10, strings.Count(out, "\norder "))
			o := rep.Orders[0]
			require.Contains(t, out, fmt.Sprintf("order %q: %s partition %d offset %d, %s, %d entries\n  %s: %s\n",
				o.Key, topic, o.Partition, o.Offset, o.Status, o.Entries, o.Problems[0].Kind, o.Problems[0].Detail))
		})
	}
}

func contains(ks []Kind, k Kind) bool {
	for _, x := range ks {
		if x == k {
			return true
		}
	}
	return false
}

// A record this build cannot decode is reported with its partition and
// offset, the latest of its key or superseded (a restore reads both); an
// aborted transaction's record is not read (read_committed).
func TestUndecodable(t *testing.T) {
	b := startBroker(t)
	topic := b.topic(t, 2)
	good := func(key string) []byte {
		return []byte(`{"schema":1,"order_id":"` + key + `","history":[{"id":"e1","type":"CustomerConfirmedMenu","menu_id":"a","at":"2026-11-25T10:00:00Z"}]}`)
	}
	produce := func(cl *kgo.Client, key string, value []byte) *kgo.Record {
		t.Helper()
		r := &kgo.Record{Topic: topic, Partition: 1, Key: []byte(key), Value: value}
		require.NoError(t, cl.ProduceSync(testCtx(t), r).FirstErr())
		return r
	}
	produce(b.cl, "ok", good("ok"))
	bad := produce(b.cl, "bad", []byte(`{"schema":1,"order_id":"bad","history":[`))
	wrong := produce(b.cl, "fixed", []byte(`{"schema":2,"order_id":"fixed","history":[]}`))
	fixed := produce(b.cl, "fixed", good("fixed"))
	produce(b.cl, "gone", []byte("garbage"))
	gone := produce(b.cl, "gone", nil)

	tx, err := kgo.NewClient(kgo.SeedBrokers(b.addr), kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.TransactionalID("replay-test-tx"))
	require.NoError(t, err)
	defer tx.Close()
	require.NoError(t, tx.BeginTransaction())
	produce(tx, "aborted", []byte("garbage in an aborted transaction"))
	require.NoError(t, tx.EndTransaction(testCtx(t), kgo.TryAbort))

	rep, _ := b.replay(t, Config{Topic: topic}, catering.Definition())
	out := text(t, rep)
	require.Equal(t, 3, rep.Counts[KindUndecodable])
	require.Len(t, rep.Counts, 1)
	require.Equal(t, 2, rep.Processes, "ok and fixed")
	require.Equal(t, 3, rep.Differing)
	require.NotContains(t, out, "aborted")
	require.Contains(t, out, fmt.Sprintf("order \"bad\": %s partition 1 offset %d, undecodable\n  undecodable: the record at offset %d (its latest record) cannot be decoded: process record is not valid JSON", topic, bad.Offset, bad.Offset))
	require.Contains(t, out, fmt.Sprintf("order \"fixed\": %s partition 1 offset %d, pending, 1 entries\n  undecodable: the record at offset %d (superseded by offset %d, but still read by a restore until compaction removes it) cannot be decoded: process record schema 2 is newer than this release reads (1): upgrade the service",
		topic, fixed.Offset, wrong.Offset, fixed.Offset))
	require.Contains(t, out, fmt.Sprintf("order \"gone\": %s partition 1 offset %d, forgotten\n  undecodable: the record at offset %d (superseded by a tombstone at offset %d", topic, gone.Offset, gone.Offset-1, gone.Offset))
}

// A transaction left open on the changelog holds the replay for at most
// its wait, and the error says so.
func TestOpenTransaction(t *testing.T) {
	b := startBroker(t)
	topic := b.topic(t, 1)
	tx, err := kgo.NewClient(kgo.SeedBrokers(b.addr), kgo.TransactionalID("replay-open-tx"))
	require.NoError(t, err)
	defer tx.Close()
	require.NoError(t, tx.BeginTransaction())
	require.NoError(t, tx.ProduceSync(testCtx(t), &kgo.Record{Topic: topic, Key: []byte("k"), Value: []byte("v")}).FirstErr())

	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(b.addr)}, ClientOpts()...)...)
	require.NoError(t, err)
	defer cl.Close()
	_, err = Run(testCtx(t), cl, Config{Topic: topic, Limits: state.DefaultLimits(), Wait: 300 * time.Millisecond}, catering.Definition())
	require.ErrorContains(t, err, "a transaction open since before offset 1 has not ended within the wait of 300ms")
	require.NoError(t, tx.EndTransaction(testCtx(t), kgo.TryAbort))

	_, err = Run(testCtx(t), cl, Config{Topic: "no-such-changelog", Limits: state.DefaultLimits()}, catering.Definition())
	require.ErrorContains(t, err, "changelog no-such-changelog does not exist")
}
