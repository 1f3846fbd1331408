package processor_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/catering-match/catering-match/internal/catering"
	"github.com/catering-match/catering-match/internal/embedded"
	"github.com/catering-match/catering-match/processor"
	"github.com/catering-match/catering-match/state"
	"github.com/catering-match/catering-match/topics"
)

// member is one running instance of a multi-instance test.
type member struct {
	id string
	r  *running
}

// assignment returns the group's assignment of the events topic by
// instance id (a processor's members i > 0, "<id>.<i>", counted under
// <id>), and how many group members there are, once the group is stable.
func groupAssignment(t *testing.T, adm *kadm.Client, group, topic string) (map[string][]int32, int, bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	gs, err := adm.DescribeGroups(ctx, group)
	if err != nil {
		return nil, 0, false
	}
	g := gs[group]
	if g.Err != nil || g.State != "Stable" {
		return nil, 0, false
	}
	out := map[string][]int32{}
	for _, m := range g.Members {
		if m.InstanceID == nil {
			return nil, 0, false
		}
		c, ok := m.Assigned.AsConsumer()
		if !ok {
			return nil, 0, false
		}
		id := *m.InstanceID
		if i := strings.LastIndexByte(id, '.'); i > 0 {
			id = id[:i]
		}
		for _, tp := range c.Topics {
			if tp.Topic == topic {
				out[id] = append(out[id], tp.Partitions...)
			}
		}
		if _, ok := out[id]; !ok {
			out[id] = nil
		}
	}
	for id := range out {
		slices.Sort(out[id])
	}
	return out, len(g.Members), true
}

// requireExactOwnership waits until every live member holds exactly its
// assignment in a stable group, each partition has one holder, and that
// stays so for several checks in a row.
func requireExactOwnership(t *testing.T, adm *kadm.Client, group, topic string, parts int32, ms []member, perInstance int) {
	t.Helper()
	var last string
	streak := 0
	deadline := time.Now().Add(90 * time.Second)
	for streak < 5 {
		if time.Now().After(deadline) {
			t.Fatalf("ownership never settled exactly: %s", last)
		}
		time.Sleep(200 * time.Millisecond)
		asg, members, ok := groupAssignment(t, adm, group, topic)
		if !ok || len(asg) != len(ms) || members != len(ms)*perInstance {
			streak, last = 0, fmt.Sprintf("group not stable with %d instances of %d members: %d members, %v", len(ms), perInstance, members, asg)
			continue
		}
		holders := map[int32]int{}
		problem := ""
		for _, m := range ms {
			held := m.r.p.Held()
			for _, p := range held {
				holders[p]++
			}
			if !slices.Equal(held, asg[m.id]) && !(len(held) == 0 && len(asg[m.id]) == 0) {
				problem += fmt.Sprintf("%s holds %v, assigned %v; ", m.id, held, asg[m.id])
			}
		}
		for p := range parts {
			if holders[p] != 1 {
				problem += fmt.Sprintf("partition %d has %d holders; ", p, holders[p])
			}
		}
		if problem != "" {
			streak, last = 0, problem
			continue
		}
		streak++
	}
}

// TestIdleRebalancesExactOwnership scales 1 -> 2 -> 3 -> 2 -> 1 with no
// traffic between the steps. GroupTransactSession passes a second revoke
// of an idle period to nobody (franz-go v1.22.3, txn.go): before the loop called End
// after every noted revoke and reconciled with the coordinator, the first
// instance kept partitions it had lost, and its timers expired orders the
// new owner had confirmed. After each step every instance must hold
// exactly its assignment; then completed orders end confirmed and the
// others expire, in the changelog and in every instance's answers.
func TestIdleRebalancesExactOwnership(t *testing.T) {
	for _, members := range []int{1, 2} {
		t.Run(fmt.Sprintf("members=%d", members), func(t *testing.T) { testIdleRebalancesExactOwnership(t, members) })
	}
}

func testIdleRebalancesExactOwnership(t *testing.T, members int) {
	b := startBroker(t, "")
	addr := b.Addr()
	names := testNames(t)
	t0 := time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)
	clk := &manualClock{now: t0}
	base := testConfig(t, addr, names)
	base.Spec.Partitions = 6
	base.Clock = clk.Now
	base.TickInterval = 100 * time.Millisecond
	base.Limits = state.Limits{Timeout: time.Hour, Retention: 1000 * time.Hour, MaxHistory: 1000}
	base.Members = members
	cfgFor := func(id string) processor.Config {
		c := base
		c.InstanceID = id
		c.Logger = base.Logger.With("instance", id)
		return c
	}
	adm := kadm.NewClient(client(t, addr))

	a := member{"a", start(t, cfgFor("a"))}
	waitForTopics(t, addr, names)
	const orders = 30
	var recs []*kgo.Record
	for i := range orders {
		r := event(fmt.Sprintf("c%d", i), state.CustomerConfirmedMenu, fmt.Sprintf("o%d", i), "m")
		r.Topic = names.Events
		recs = append(recs, r)
	}
	produce(t, addr, recs...)
	eventually(t, 60*time.Second, "customer confirmations applied", func() bool { return a.r.p.Stats().Applied.Load() == orders })

	live := []member{a}
	requireExactOwnership(t, adm, base.Group, names.Events, 6, live, members)
	for _, step := range []string{"+b", "+c", "-c", "-b"} {
		id := step[1:]
		if step[0] == '+' {
			live = append(live, member{id, start(t, cfgFor(id))})
		} else {
			i := slices.IndexFunc(live, func(m member) bool { return m.id == id })
			live[i].r.stop(t)
			live = slices.Delete(live, i, i+1)
		}
		requireExactOwnership(t, adm, base.Group, names.Events, 6, live, members)
		t.Logf("after %s: exact ownership", step)
	}

	// Every instance again, then traffic: half the orders complete, and
	// the clock passes everyone's deadline.
	live = append(live, member{"b", start(t, cfgFor("b"))}, member{"c", start(t, cfgFor("c"))})
	requireExactOwnership(t, adm, base.Group, names.Events, 6, live, members)
	recs = recs[:0]
	for i := 0; i < orders; i += 2 {
		r := event(fmt.Sprintf("k%d", i), state.CatererConfirmedMenu, fmt.Sprintf("o%d", i), "m")
		r.Topic = names.Events
		recs = append(recs, r)
	}
	produce(t, addr, recs...)
	total := func(counter func(*processor.Stats) int64) func() int64 {
		return func() int64 {
			var n int64
			for _, m := range live {
				n += counter(m.r.p.Stats())
			}
			return n
		}
	}
	issued := total(func(s *processor.Stats) int64 { return s.CommandsIssued.Load() })
	eventually(t, 60*time.Second, "the completed orders confirmed", func() bool { return issued() == orders/2 })
	clk.Advance(2 * time.Hour)
	expired := total(func(s *processor.Stats) int64 { return s.Expired.Load() })
	eventually(t, 60*time.Second, "the other orders expired", func() bool { return expired() == orders/2 })
	time.Sleep(500 * time.Millisecond) // more ticks: a stale holder would write now
	require.EqualValues(t, orders/2, expired(), "an order expired twice: a partition had two holders")

	cmds := readAll(t, addr, names.Commands)
	require.Len(t, cmds, orders/2)
	latest := latestChangelog(t, addr, names, 6)
	for i := range orders {
		order := fmt.Sprintf("o%d", i)
		r := latest[order]
		require.NotNil(t, r, order)
		_, hist, err := topics.DecodeProcess(r.Key, r.Value)
		require.NoError(t, err)
		want := state.MatchExpired
		if i%2 == 0 {
			want = state.ConfirmOrderIssued
		}
		require.Equal(t, want, hist[len(hist)-1].Type, "order %s: latest changelog record %v", order, lines(hist))
		var statuses []string
		for _, m := range live {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			v, ok, err := m.r.p.Get(ctx, order)
			cancel()
			require.NoError(t, err)
			require.True(t, ok, "%s does not know %s", m.id, order)
			statuses = append(statuses, v.Status+" ("+v.Source+")")
			require.Equal(t, map[bool]string{true: "confirmed", false: "expired"}[i%2 == 0], v.Status,
				"order %s from %s: %v", order, m.id, statuses)
		}
	}
}

// TestEndWithoutCommitIsChecked: franz-go's End reports committed=false
// with no error both when the transaction surely aborted (its offset commit
// was refused because the group moved to a new generation; a committing
// EndTxn answered UNKNOWN_SERVER_ERROR without committing, which it then
// retries as an abort) and when the broker may have committed (the same
// answer after a commit). The loop asks the group's stable offsets: if
// they stayed, the abort was clean and the records are decided again in the
// same session; if they moved, the outcome is unknown and the session is
// rebuilt from the changelog. Either way the order gets exactly one
// ConfirmOrder. (Before, every such end rebuilt the session, and before
// that, every one was taken as a clean abort.)
func TestEndWithoutCommitIsChecked(t *testing.T) {
	for _, tc := range []struct {
		name string
		// inject arms the fault once; it returns whether it fired.
		inject  func(t *testing.T, b *embedded.Broker, p *processor.Processor[state.Order]) func() bool
		rebuilt bool
	}{
		{"offset commit refused: a new generation", func(t *testing.T, b *embedded.Broker, _ *processor.Processor[state.Order]) func() bool {
			var fired atomic.Bool
			b.Cluster().ControlKey(int16(kmsg.TxnOffsetCommit), func(req kmsg.Request) (kmsg.Response, error, bool) {
				commit := req.(*kmsg.TxnOffsetCommitRequest)
				resp := commit.ResponseKind().(*kmsg.TxnOffsetCommitResponse)
				for _, rt := range commit.Topics {
					st := kmsg.NewTxnOffsetCommitResponseTopic()
					st.Topic = rt.Topic
					for _, rp := range rt.Partitions {
						sp := kmsg.NewTxnOffsetCommitResponseTopicPartition()
						sp.Partition, sp.ErrorCode = rp.Partition, kerr.IllegalGeneration.Code
						st.Partitions = append(st.Partitions, sp)
					}
					resp.Topics = append(resp.Topics, st)
				}
				fired.Store(true)
				return resp, nil, true
			})
			return fired.Load
		}, false},
		{"committing EndTxn answered UNKNOWN_SERVER_ERROR, not committed", func(t *testing.T, b *embedded.Broker, _ *processor.Processor[state.Order]) func() bool {
			var fired atomic.Bool
			b.Cluster().ControlKey(int16(kmsg.EndTxn), func(req kmsg.Request) (kmsg.Response, error, bool) {
				end := req.(*kmsg.EndTxnRequest)
				if !end.Commit {
					b.Cluster().KeepControl()
					return nil, nil, false
				}
				resp := end.ResponseKind().(*kmsg.EndTxnResponse)
				resp.ErrorCode = kerr.UnknownServerError.Code
				fired.Store(true)
				return resp, nil, true
			})
			return fired.Load
		}, false},
		{"committed, reported as not committed", func(t *testing.T, _ *embedded.Broker, p *processor.Processor[state.Order]) func() bool {
			var fired atomic.Bool
			processor.SetEndSeen(p, func(committed bool, err error) (bool, error) {
				if committed && fired.CompareAndSwap(false, true) {
					return false, nil
				}
				return committed, err
			})
			return fired.Load
		}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := startBroker(t, "")
			addr := b.Addr()
			names := testNames(t)
			cfg := testConfig(t, addr, names)
			p, err := processor.New(cfg, catering.Definition())
			require.NoError(t, err)
			fired := tc.inject(t, b, p)
			r := startProcessor(t, p)
			waitForTopics(t, addr, names)
			eventually(t, 60*time.Second, "ready", r.p.Ready)
			recs := []*kgo.Record{
				event("u1", state.CustomerConfirmedMenu, "u", "m"),
				event("u2", state.CatererConfirmedMenu, "u", "m"),
			}
			for _, rec := range recs {
				rec.Topic = names.Events
			}
			produce(t, addr, recs...)
			st := r.p.Stats()
			// A rebuilt session counts no command for the transaction it
			// could not confirm: the commands topic says what was issued.
			eventually(t, 60*time.Second, "the order confirmed", func() bool { return len(readAll(t, addr, names.Commands)) == 1 })
			require.True(t, fired(), "the fault was not injected")
			if tc.rebuilt {
				eventually(t, 60*time.Second, "ready again after the rebuild", func() bool { return st.SessionRestarts.Load() > 0 && r.p.Ready() })
				require.GreaterOrEqual(t, st.TxnUnknown.Load(), int64(1), "the end was not taken as an unknown outcome")
				require.GreaterOrEqual(t, st.SessionRestarts.Load(), int64(1), "the session was not rebuilt")
			} else {
				require.GreaterOrEqual(t, st.TxnAborted.Load(), int64(1), "the end was not taken as a clean abort")
				require.Zero(t, st.TxnUnknown.Load(), "a checked abort was taken as an unknown outcome")
				require.Zero(t, st.SessionRestarts.Load(), "the session was rebuilt for a clean abort")
			}
			require.Len(t, readAll(t, addr, names.Commands), 1)
			hist, _ := changelogHistory(t, addr, names, "u")
			require.Equal(t, state.ConfirmOrderIssued, hist[len(hist)-1].Type)
		})
	}
}

// TestAbortedTicksKeepTheirTimers aborts half the transactions at random
// while the clock passes deadlines and retentions in waves. Before, an
// aborted tick lost the due-queue entries it had popped, and those
// processes never expired or were forgotten until a restore.
func TestAbortedTicksKeepTheirTimers(t *testing.T) {
	b := startBroker(t, "")
	addr := b.Addr()
	names := testNames(t)
	t0 := time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)
	clk := &manualClock{now: t0}
	cfg := testConfig(t, addr, names)
	cfg.Clock = clk.Now
	cfg.TickInterval = 20 * time.Millisecond
	cfg.AbortEvery = 2
	cfg.Limits = state.Limits{Timeout: time.Hour, Retention: time.Hour, MaxHistory: 1000}
	r := start(t, cfg)
	waitForTopics(t, addr, names)
	st := r.p.Stats()

	// The loop ticks when the processing clock has moved a tick interval:
	// the clock creeps on by a second at every check, as time would.
	creep := func(cond func() bool) func() bool {
		return func() bool { clk.Advance(time.Second); return cond() }
	}
	const waves, perWave = 6, 5
	for w := range waves {
		var recs []*kgo.Record
		for i := range perWave {
			order := fmt.Sprintf("w%d-%d", w, i)
			rec := event(order+"-c", state.CustomerConfirmedMenu, order, "m")
			rec.Topic = names.Events
			recs = append(recs, rec)
		}
		produce(t, addr, recs...)
		want := int64((w + 1) * perWave)
		eventually(t, 60*time.Second, fmt.Sprintf("wave %d applied", w), func() bool { return st.Applied.Load() == want })
		clk.Advance(61 * time.Minute) // this wave's deadline, and the last wave's retention
		eventually(t, 60*time.Second, fmt.Sprintf("wave %d expired", w), creep(func() bool { return st.Expired.Load() == want }))
		eventually(t, 60*time.Second, fmt.Sprintf("wave %d-1 forgotten", w), creep(func() bool { return st.Forgotten.Load() == want-perWave }))
	}
	clk.Advance(61 * time.Minute)
	eventually(t, 60*time.Second, "every process forgotten", creep(func() bool { return st.Forgotten.Load() == waves*perWave }))
	require.Positive(t, st.TxnAborted.Load(), "no transaction aborted")
	t.Logf("%d transactions aborted", st.TxnAborted.Load())
	latest := latestChangelog(t, addr, names, 3)
	for key, rec := range latest {
		require.Nil(t, rec.Value, "%s not tombstoned", key)
	}
}

// TestMembersStopPromptly stops a processor of three static members at
// moments of its start, when the members' joins rebalance the group. A
// member's Close waits for its JoinGroup in flight, and the coordinator
// holds that until every member has rejoined: the members that closed
// first never will, so without the explicit leave (see shutdown) a stop
// took the whole rebalance timeout (a minute).
func TestMembersStopPromptly(t *testing.T) {
	b := startBroker(t, "")
	addr := b.Addr()
	names := testNames(t)
	for i, delay := range []time.Duration{0, 5 * time.Millisecond, 20 * time.Millisecond, 50 * time.Millisecond, 100 * time.Millisecond, 200 * time.Millisecond} {
		cfg := testConfig(t, addr, names)
		cfg.Group = fmt.Sprintf("%s-stop-%d", cfg.Group, i)
		cfg.Members = 3
		// A member that stopped without leaving is only dropped at the
		// session timeout: long, so that it is not what ends the wait.
		cfg.SessionTimeout = 45 * time.Second
		cfg.Logger = quietLogger(t)
		p, err := processor.New(cfg, catering.Definition())
		require.NoError(t, err)
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- p.Run(ctx) }()
		time.Sleep(delay)
		cancel()
		select {
		case err := <-done:
			require.NoError(t, err)
		case <-time.After(30 * time.Second): // the rebalance timeout is a minute
			t.Fatalf("stop %v after the start: the processor did not stop within 30s", delay)
		}
	}
}
