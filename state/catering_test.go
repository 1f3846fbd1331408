package state_test

import (
	"slices"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/catering-match/catering-match/state"
)

// Shared helpers for the state tests.

const (
	orderKey  = "42"
	otherType = "OrderNoteAdded"
)

var t0 = time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)

// testLimits: a one-hour timeout, 30 minutes of retention and a history of 5.
func testLimits() state.Limits {
	return state.Limits{Timeout: time.Hour, Retention: 30 * time.Minute, MaxHistory: 5}
}

func newManager(tb testing.TB, l state.Limits) *state.Manager[state.Order] {
	tb.Helper()
	m, err := state.NewCatering(l)
	require.NoError(tb, err)
	return m
}

func cust(id, menu string) state.Entry {
	return state.Entry{ID: id, Type: state.CustomerConfirmedMenu, Ref: menu}
}
func catOK(id, menu string) state.Entry {
	return state.Entry{ID: id, Type: state.CatererConfirmedMenu, Ref: menu}
}
func catNo(id, menu string) state.Entry {
	return state.Entry{ID: id, Type: state.CatererDeclinedMenu, Ref: menu}
}
func other(id string) state.Entry { return state.Entry{ID: id, Type: otherType, Ref: "a"} }

// snapshot is a deep copy of a process, to prove Apply leaves its input alone.
func snapshot(p *state.Process[state.Order]) *state.Process[state.Order] {
	if p == nil {
		return nil
	}
	c := *p
	c.History = slices.Clone(p.History)
	c.State.Menus = slices.Clone(p.State.Menus)
	return &c
}

// applyChecked applies ev and checks, on every call, that the input process
// was not mutated and that the live state equals the fold of the history.
func applyChecked(tb testing.TB, m *state.Manager[state.Order], p *state.Process[state.Order], key string, ev state.Entry, now time.Time) state.Outcome[state.Order] {
	tb.Helper()
	before := snapshot(p)
	out := m.Apply(p, key, ev, now)
	require.Equal(tb, before, p, "Apply mutated its input process")
	if !out.Changed() {
		require.Same(tb, p, out.Process, "unchanged outcome must return the input pointer")
	}
	if out.Process != nil {
		require.Equal(tb, m.Restore(out.Process.History).State, out.Process.State, "restore != live")
	}
	return out
}

func decisionTypes(ds []state.Entry) []string {
	var s []string
	for _, d := range ds {
		s = append(s, d.Type+":"+d.Ref)
	}
	return s
}

// --- Table tests over the process rules -----------------------------------

type step struct {
	at        time.Duration // processing time, offset from t0
	ev        state.Entry
	want      state.Result
	decisions []string // "Type:menu" of the decisions this step records
}

func TestCateringRules(t *testing.T) {
	const h = time.Hour
	full := state.Limits{Timeout: time.Hour, Retention: time.Hour, MaxHistory: 3}
	two := state.Limits{Timeout: time.Hour, Retention: time.Hour, MaxHistory: 2}
	issued := func(menu string) []string { return []string{state.ConfirmOrderIssued + ":" + menu} }
	expired := []string{state.MatchExpired + ":"}

	cases := []struct {
		name       string
		limits     state.Limits // zero: testLimits()
		steps      []step
		status     state.Status
		confirmed  string
		historyLen int
		menus      []state.Menu // nil: not checked
	}{
		{
			name: "1 duplicate id is skipped and changes nothing",
			steps: []step{
				{ev: cust("e1", "a"), want: state.Applied},
				{ev: cust("e1", "a"), want: state.SkippedDuplicate},
				{ev: catOK("e1", "a"), want: state.SkippedDuplicate}, // same id, other type: still a duplicate
			},
			status: state.Pending, historyLen: 1,
			menus: []state.Menu{{ID: "a", Customer: true}},
		},
		{
			name: "1 duplicate caterer confirmation cannot complete a match",
			steps: []step{
				{ev: catOK("e1", "a"), want: state.Applied},
				{ev: cust("e1", "a"), want: state.SkippedDuplicate},
				{ev: cust("e2", "a"), want: state.Applied, decisions: issued("a")},
			},
			status: state.Confirmed, confirmed: "a", historyLen: 3,
		},
		{
			name: "2 customer confirmations accumulate; caterer picks the second",
			steps: []step{
				{ev: cust("e1", "a"), want: state.Applied},
				{ev: cust("e2", "b"), want: state.Applied},
				{ev: catOK("e3", "b"), want: state.Applied, decisions: issued("b")},
			},
			status: state.Confirmed, confirmed: "b", historyLen: 4,
		},
		{
			name: "2 customer confirmations accumulate; caterer picks the first",
			steps: []step{
				{ev: cust("e1", "a"), want: state.Applied},
				{ev: cust("e2", "b"), want: state.Applied},
				{ev: catOK("e3", "a"), want: state.Applied, decisions: issued("a")},
			},
			status: state.Confirmed, confirmed: "a", historyLen: 4,
		},
		{
			name: "2 customer confirms the same menu twice: no match without the caterer",
			steps: []step{
				{ev: cust("e1", "a"), want: state.Applied},
				{ev: cust("e2", "a"), want: state.Applied},
			},
			status: state.Pending, historyLen: 2,
			menus: []state.Menu{{ID: "a", Customer: true}},
		},
		{
			name: "3 decline after confirm withdraws it",
			steps: []step{
				{ev: catOK("e1", "a"), want: state.Applied},
				{ev: catNo("e2", "a"), want: state.Applied},
				{ev: cust("e3", "a"), want: state.Applied},
			},
			status: state.Pending, historyLen: 3,
			menus: []state.Menu{{ID: "a", Customer: true, Caterer: state.Declined}},
		},
		{
			name: "3 confirm after decline restores it",
			steps: []step{
				{ev: catNo("e1", "a"), want: state.Applied},
				{ev: catOK("e2", "a"), want: state.Applied},
				{ev: cust("e3", "a"), want: state.Applied, decisions: issued("a")},
			},
			status: state.Confirmed, confirmed: "a", historyLen: 4,
		},
		{
			name: "3 customer first, then decline, then confirm: match on the restoring confirm",
			steps: []step{
				{ev: cust("e1", "a"), want: state.Applied},
				{ev: catNo("e2", "a"), want: state.Applied},
				{ev: catOK("e3", "a"), want: state.Applied, decisions: issued("a")},
			},
			status: state.Confirmed, confirmed: "a", historyLen: 4,
		},
		{
			name: "3 answers are per menu: decline of b does not withdraw a",
			steps: []step{
				{ev: catOK("e1", "a"), want: state.Applied},
				{ev: catNo("e2", "b"), want: state.Applied},
				{ev: cust("e3", "b"), want: state.Applied},
				{ev: cust("e4", "a"), want: state.Applied, decisions: issued("a")},
			},
			status: state.Confirmed, confirmed: "a", historyLen: 5,
		},
		{
			name: "3/4 confirmations on different menus do not match",
			steps: []step{
				{ev: cust("e1", "a"), want: state.Applied},
				{ev: catOK("e2", "b"), want: state.Applied},
			},
			status: state.Pending, historyLen: 2,
			menus: []state.Menu{{ID: "a", Customer: true}, {ID: "b", Caterer: state.Accepted}},
		},
		{
			name: "4 customer then caterer issues exactly one command",
			steps: []step{
				{ev: cust("e1", "a"), want: state.Applied},
				{at: time.Minute, ev: catOK("e2", "a"), want: state.Applied, decisions: issued("a")},
			},
			status: state.Confirmed, confirmed: "a", historyLen: 3,
		},
		{
			name: "4 caterer then customer issues exactly one command",
			steps: []step{
				{ev: catOK("e1", "a"), want: state.Applied},
				{ev: cust("e2", "a"), want: state.Applied, decisions: issued("a")},
			},
			status: state.Confirmed, confirmed: "a", historyLen: 3,
		},
		{
			name: "default menu: empty menu ids match each other",
			steps: []step{
				{ev: cust("e1", ""), want: state.Applied},
				{ev: catOK("e2", ""), want: state.Applied, decisions: issued("")},
			},
			status: state.Confirmed, confirmed: "", historyLen: 3,
		},
		{
			name: "default menu is not a wildcard",
			steps: []step{
				{ev: cust("e1", ""), want: state.Applied},
				{ev: catOK("e2", "a"), want: state.Applied},
				{ev: cust("e3", "b"), want: state.Applied},
				{ev: catOK("e4", "b"), want: state.Applied, decisions: issued("b")},
			},
			status: state.Confirmed, confirmed: "b", historyLen: 5,
		},
		{
			name: "5 confirmed is terminal: later events skipped, duplicates still duplicates",
			steps: []step{
				{ev: cust("e1", "a"), want: state.Applied},
				{ev: catOK("e2", "a"), want: state.Applied, decisions: issued("a")},
				{ev: catNo("e3", "a"), want: state.SkippedTerminal},
				{ev: cust("e4", "b"), want: state.SkippedTerminal},
				{ev: catOK("e5", "b"), want: state.SkippedTerminal},
				{ev: catOK("e2", "a"), want: state.SkippedDuplicate},
				{ev: other("e6"), want: state.SkippedOtherType},
				{at: 10 * h, ev: cust("e7", "a"), want: state.SkippedTerminal}, // no expiry of a confirmed process
			},
			status: state.Confirmed, confirmed: "a", historyLen: 3,
			menus: []state.Menu{{ID: "a", Customer: true, Caterer: state.Accepted}},
		},
		{
			name: "5/6 expired is terminal; expiry recorded by Apply at exactly the deadline",
			steps: []step{
				{ev: cust("e1", "a"), want: state.Applied},
				{at: h, ev: catOK("e2", "a"), want: state.SkippedTerminal, decisions: expired},
				{at: h + time.Minute, ev: catOK("e3", "a"), want: state.SkippedTerminal},
				{at: h + time.Minute, ev: cust("e1", "a"), want: state.SkippedDuplicate},
			},
			status: state.Expired, historyLen: 2,
		},
		{
			name: "6 one nanosecond before the deadline the match still happens",
			steps: []step{
				{ev: cust("e1", "a"), want: state.Applied},
				{at: h - time.Nanosecond, ev: catOK("e2", "a"), want: state.Applied, decisions: issued("a")},
			},
			status: state.Confirmed, confirmed: "a", historyLen: 3,
		},
		{
			name: "6 deadline counts from the first event, not the latest",
			steps: []step{
				{ev: cust("e1", "a"), want: state.Applied},
				{at: 59 * time.Minute, ev: cust("e2", "b"), want: state.Applied},
				{at: h, ev: catOK("e3", "a"), want: state.SkippedTerminal, decisions: expired},
			},
			status: state.Expired, historyLen: 3,
		},
		{
			name: "6 expiry is recorded before a duplicate is skipped",
			steps: []step{
				{ev: cust("e1", "a"), want: state.Applied},
				{at: 2 * h, ev: cust("e1", "a"), want: state.SkippedDuplicate, decisions: expired},
			},
			status: state.Expired, historyLen: 2,
		},
		{
			name: "6 an other-type event after the deadline records no expiry",
			steps: []step{
				{ev: cust("e1", "a"), want: state.Applied},
				{at: 2 * h, ev: other("x"), want: state.SkippedOtherType},
			},
			status: state.Pending, historyLen: 1,
		},
		{
			name: "other type on a live process is skipped",
			steps: []step{
				{ev: cust("e1", "a"), want: state.Applied},
				{ev: other("e2"), want: state.SkippedOtherType},
				{ev: catOK("e2", "a"), want: state.Applied, decisions: issued("a")}, // e2 was never applied
			},
			status: state.Confirmed, confirmed: "a", historyLen: 3,
		},
		{
			name:   "8 full history rejects new events but still detects duplicates",
			limits: full,
			steps: []step{
				{ev: cust("e1", "a"), want: state.Applied},
				{ev: cust("e2", "b"), want: state.Applied},
				{ev: catNo("e3", "a"), want: state.Applied},
				{ev: catOK("e4", "a"), want: state.RejectedHistoryFull}, // would have matched
				{ev: catOK("e2", "b"), want: state.SkippedDuplicate},
				{ev: catNo("e3", "a"), want: state.SkippedDuplicate},
				{ev: other("e5"), want: state.SkippedOtherType},
			},
			status: state.Pending, historyLen: 3,
		},
		{
			name:   "8 the deciding entry may exceed MaxHistory by one",
			limits: two,
			steps: []step{
				{ev: cust("e1", "a"), want: state.Applied},
				{ev: catOK("e2", "a"), want: state.Applied, decisions: issued("a")},
				{ev: catOK("e3", "a"), want: state.SkippedTerminal}, // terminal beats full
			},
			status: state.Confirmed, confirmed: "a", historyLen: 3,
		},
		{
			name:   "8/6 a full pending process still expires",
			limits: two,
			steps: []step{
				{ev: cust("e1", "a"), want: state.Applied},
				{ev: cust("e2", "b"), want: state.Applied},
				{ev: catOK("e3", "c"), want: state.RejectedHistoryFull},
				{at: h, ev: catOK("e4", "a"), want: state.SkippedTerminal, decisions: expired},
			},
			status: state.Expired, historyLen: 3,
		},
	}

	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			l := tc.limits
			if l == (state.Limits{}) {
				l = testLimits()
			}
			m := newManager(t, l)
			var p *state.Process[state.Order]
			issuedCount := 0
			for i, s := range tc.steps {
				now := t0.Add(s.at)
				out := applyChecked(t, m, p, orderKey, s.ev, now)
				require.Equal(t, s.want, out.Result, "step %d (%s %s)", i, s.ev.Type, s.ev.ID)
				require.Equal(t, s.decisions, decisionTypes(out.Decisions), "step %d decisions", i)
				for _, d := range out.Decisions {
					require.Equal(t, state.StampOf(now), d.At, "decision time")
					if d.Type == state.ConfirmOrderIssued {
						issuedCount++
						require.Equal(t, state.CommandID(orderKey), d.ID)
					}
				}
				if out.Result == state.Applied {
					require.Equal(t, state.StampOf(now), out.Process.History[len(out.Process.History)-1-len(out.Decisions)].At)
				}
				p = out.Process
			}
			require.LessOrEqual(t, issuedCount, 1)
			require.NotNil(t, p)
			require.Equal(t, tc.status, p.State.Status)
			require.Equal(t, tc.confirmed, p.State.ConfirmedMenu())
			require.Len(t, p.History, tc.historyLen)
			require.LessOrEqual(t, len(p.History), l.MaxHistory+1)
			if tc.menus != nil {
				require.Equal(t, tc.menus, p.State.Menus)
			}
			if tc.status == state.Confirmed {
				require.Equal(t, 1, issuedCount)
				require.Equal(t, state.CommandID(orderKey), p.State.CommandID())
				last := p.History[len(p.History)-1]
				require.Equal(t, state.ConfirmOrderIssued, last.Type)
				require.Equal(t, tc.confirmed, last.Ref)
			} else {
				require.Zero(t, issuedCount)
				require.Empty(t, p.State.CommandID())
			}
			// Restore == live, and the restored process behaves identically.
			r := m.Restore(slices.Clone(p.History))
			require.Equal(t, p.State, r.State)
			require.Equal(t, p.History, r.History)
		})
	}
}

func TestApplyToNilProcess(t *testing.T) {
	m := newManager(t, testLimits())
	out := m.Apply(nil, orderKey, other("x"), t0)
	require.Equal(t, state.SkippedOtherType, out.Result)
	require.Nil(t, out.Process)
	require.False(t, out.Changed())

	ev := cust("e1", "a")
	ev.At = state.StampOf(t0.Add(-24 * time.Hour)) // the caller's time is overwritten with now
	out = m.Apply(nil, orderKey, ev, t0)
	require.Equal(t, state.Applied, out.Result)
	require.True(t, out.Changed())
	require.Equal(t, []state.Entry{{ID: "e1", Type: state.CustomerConfirmedMenu, Ref: "a", At: state.StampOf(t0)}}, out.Process.History)
	require.Empty(t, out.Decisions)
	d, ok := m.Deadline(out.Process)
	require.True(t, ok)
	require.Equal(t, t0.Add(time.Hour), d)
}

func TestConfirmOrderDecision(t *testing.T) {
	m := newManager(t, testLimits())
	p := m.Apply(nil, "order-7", cust("e1", "menu-a"), t0).Process
	now := t0.Add(5 * time.Minute)
	out := m.Apply(p, "order-7", catOK("e2", "menu-a"), now)
	require.Equal(t, state.Applied, out.Result)
	want := state.Entry{ID: state.CommandID("order-7"), Type: state.ConfirmOrderIssued, Ref: "menu-a", At: state.StampOf(now)}
	require.Equal(t, []state.Entry{want}, out.Decisions)
	require.Equal(t, want, out.Process.History[2])
	require.Equal(t, state.Order{
		Status:       state.Confirmed,
		Menus:        []state.Menu{{ID: "menu-a", Customer: true, Caterer: state.Accepted}},
		Confirmation: &state.Confirmation{Menu: "menu-a", CommandID: state.CommandID("order-7")},
	}, out.Process.State)
	_, ok := m.Deadline(out.Process)
	require.False(t, ok, "a terminal process has no deadline")
	ended, ok := m.Ended(out.Process)
	require.True(t, ok)
	require.Equal(t, now, ended)
}

func TestAdvanceDeadline(t *testing.T) {
	m := newManager(t, testLimits())
	p := m.Apply(nil, orderKey, cust("e1", "a"), t0).Process
	p = m.Apply(p, orderKey, catNo("e2", "a"), t0.Add(30*time.Minute)).Process
	deadline, ok := m.Deadline(p)
	require.True(t, ok)
	require.Equal(t, t0.Add(time.Hour), deadline)

	require.Nil(t, m.Advance(orderKey, p, t0))
	require.Nil(t, m.Advance(orderKey, p, deadline.Add(-time.Nanosecond)))
	_, ok = m.Ended(p)
	require.False(t, ok)
	require.False(t, m.Forget(p, deadline.Add(100*time.Hour)), "a pending process is never forgotten")

	before := snapshot(p)
	adv := m.Advance(orderKey, p, deadline) // exactly at the deadline: expired
	require.NotNil(t, adv)
	require.Equal(t, before, p, "Advance mutated its input")
	require.Len(t, adv.Decisions, 1)
	d := adv.Decisions[0]
	require.Equal(t, state.MatchExpired, d.Type)
	require.Equal(t, state.StampOf(deadline), d.At)
	require.NotEmpty(t, d.ID)
	require.Equal(t, state.Expired, adv.Process.State.Status)
	require.Equal(t, d, adv.Process.History[len(adv.Process.History)-1])
	require.Len(t, adv.Process.History, 3)
	require.Equal(t, m.Restore(adv.Process.History).State, adv.Process.State)

	// Later than the deadline: the expiry is recorded at now, not at the deadline.
	late := deadline.Add(17 * time.Minute)
	adv2 := m.Advance(orderKey, p, late)
	require.NotNil(t, adv2)
	require.Equal(t, state.StampOf(late), adv2.Decisions[0].At)

	// Terminal and empty processes have nothing due.
	require.Nil(t, m.Advance(orderKey, adv.Process, deadline.Add(time.Hour)))
	_, ok = m.Deadline(adv.Process)
	require.False(t, ok)
	empty := m.Restore(nil)
	require.Nil(t, m.Advance(orderKey, empty, t0.Add(1000*time.Hour)))
	_, ok = m.Deadline(empty)
	require.False(t, ok)
	_, ok = m.Ended(empty)
	require.False(t, ok)
	require.False(t, m.Forget(empty, t0.Add(1000*time.Hour)))

	// The expiry decision id is deterministic per order.
	q := m.Apply(nil, orderKey, cust("z", "b"), t0).Process
	require.Equal(t, d.ID, m.Advance(orderKey, q, deadline).Decisions[0].ID)
	q2 := m.Apply(nil, "other-order", cust("z", "b"), t0).Process
	require.NotEqual(t, d.ID, m.Advance("other-order", q2, deadline).Decisions[0].ID)
}

func TestForgetRetention(t *testing.T) {
	l := testLimits()
	m := newManager(t, l)

	t.Run("confirmed", func(t *testing.T) {
		p := m.Apply(nil, orderKey, cust("e1", "a"), t0).Process
		end := t0.Add(10 * time.Minute)
		p = m.Apply(p, orderKey, catOK("e2", "a"), end).Process
		ended, ok := m.Ended(p)
		require.True(t, ok)
		require.Equal(t, end, ended)
		require.False(t, m.Forget(p, end))
		require.False(t, m.Forget(p, end.Add(l.Retention-time.Nanosecond)))
		require.True(t, m.Forget(p, end.Add(l.Retention)))
		require.True(t, m.Forget(p, end.Add(l.Retention+time.Hour)))
		// Skipped stragglers do not extend retention.
		out := m.Apply(p, orderKey, cust("e3", "b"), end.Add(time.Minute))
		require.Equal(t, state.SkippedTerminal, out.Result)
		require.Same(t, p, out.Process)
		require.True(t, m.Forget(out.Process, end.Add(l.Retention)))
	})

	t.Run("expired", func(t *testing.T) {
		p := m.Apply(nil, orderKey, cust("e1", "a"), t0).Process
		at := t0.Add(l.Timeout + 5*time.Minute)
		p = m.Advance(orderKey, p, at).Process
		ended, ok := m.Ended(p)
		require.True(t, ok)
		require.Equal(t, at, ended)
		require.False(t, m.Forget(p, at.Add(l.Retention-time.Nanosecond)))
		require.True(t, m.Forget(p, at.Add(l.Retention)))
	})

	t.Run("after forgetting, the same event starts a new process", func(t *testing.T) {
		p := m.Apply(nil, orderKey, cust("e1", "a"), t0).Process
		p = m.Apply(p, orderKey, catOK("e2", "a"), t0).Process
		require.True(t, m.Forget(p, t0.Add(l.Retention)))
		out := m.Apply(nil, orderKey, catOK("e2", "a"), t0.Add(l.Retention)) // the tombstoned key
		require.Equal(t, state.Applied, out.Result, "documented limit of windowed dedup")
		require.Equal(t, state.Pending, out.Process.State.Status)
	})
}

func TestCommandID(t *testing.T) {
	a1, a2, b := state.CommandID("42"), state.CommandID("42"), state.CommandID("43")
	require.Equal(t, a1, a2, "deterministic")
	require.NotEqual(t, a1, b, "different orders, different ids")
	require.NotEqual(t, state.CommandID(""), state.CommandID(" "))
	for _, s := range []string{a1, b, state.CommandID("")} {
		u, err := uuid.Parse(s)
		require.NoError(t, err)
		require.Equal(t, uuid.Version(5), u.Version())
		require.Equal(t, uuid.RFC4122, u.Variant())
		require.Equal(t, u.String(), s, "canonical lower-case form")
	}
	// Pin the wire contract: the namespace and name format must not change.
	ns := uuid.MustParse("6f2b8c0e-3a6d-5b9e-8f41-6c1f0e2a9d57")
	require.Equal(t, uuid.NewSHA1(ns, []byte("ConfirmOrder/42")).String(), a1)
}

func TestCopyOnWriteBranches(t *testing.T) {
	m := newManager(t, testLimits())
	base := m.Apply(nil, orderKey, cust("e1", "a"), t0).Process
	base = m.Apply(base, orderKey, catNo("e2", "b"), t0).Process
	snap := snapshot(base)

	// Two branches from the same base must not see each other.
	x := m.Apply(base, orderKey, catOK("x", "a"), t0).Process
	y := m.Apply(base, orderKey, cust("y", "b"), t0).Process
	z := m.Advance(orderKey, base, t0.Add(time.Hour)).Process
	require.Equal(t, snap, base)
	require.Equal(t, state.Confirmed, x.State.Status)
	require.Equal(t, state.Pending, y.State.Status)
	require.Equal(t, state.Expired, z.State.Status)
	require.Equal(t, []string{"e1", "e2", "x", state.CommandID(orderKey)}, ids(x.History))
	require.Equal(t, []string{"e1", "e2", "y"}, ids(y.History))
	mb, _ := y.State.Menu("b")
	require.True(t, mb.Customer)
	mb, _ = base.State.Menu("b")
	require.False(t, mb.Customer)

	// Writing into a result does not reach the input.
	y.History[0].ID = "changed"
	y.State.Menus[0].Customer = false
	require.Equal(t, snap, base)

	// A restored history with spare capacity must not be shared by branches.
	roomy := make([]state.Entry, 0, 16)
	roomy = append(roomy, snap.History...)
	r := m.Restore(roomy)
	rx := m.Apply(r, orderKey, catOK("x", "a"), t0).Process
	ry := m.Apply(r, orderKey, cust("y", "b"), t0).Process
	require.Equal(t, []string{"e1", "e2", "x", state.CommandID(orderKey)}, ids(rx.History))
	require.Equal(t, []string{"e1", "e2", "y"}, ids(ry.History))
	require.Equal(t, snap.History, r.History)
	require.Equal(t, m.Restore(rx.History).State, rx.State)
}

func ids(h []state.Entry) []string {
	s := make([]string, len(h))
	for i, e := range h {
		s[i] = e.ID
	}
	return s
}

func TestFoldEqualsIncremental(t *testing.T) {
	m := newManager(t, state.DefaultLimits())
	evs := []state.Entry{
		cust("1", ""), catNo("2", "a"), cust("3", "b"), catOK("4", "a"), catNo("5", "a"),
		cust("6", "a"), catOK("7", "c"), catOK("8", "a"),
	}
	var p *state.Process[state.Order]
	for i, e := range evs {
		p = applyChecked(t, m, p, orderKey, e, t0.Add(time.Duration(i)*time.Second)).Process
		require.Equal(t, state.Catering().Projection.Fold(p.History), p.State)
	}
	require.Equal(t, state.Confirmed, p.State.Status)
	require.Equal(t, "a", p.State.ConfirmedMenu())
	require.Equal(t, []state.Menu{
		{ID: "", Customer: true},
		{ID: "a", Customer: true, Caterer: state.Accepted},
		{ID: "b", Customer: true},
		{ID: "c", Caterer: state.Accepted},
	}, p.State.Menus)
	got, ok := p.State.Menu("c")
	require.True(t, ok)
	require.Equal(t, state.Accepted, got.Caterer)
	got, ok = p.State.Menu("nope")
	require.False(t, ok)
	require.Equal(t, state.Menu{ID: "nope"}, got)
}

func TestManagerConstruction(t *testing.T) {
	for _, l := range []state.Limits{
		{Timeout: 0, Retention: time.Hour, MaxHistory: 10},
		{Timeout: time.Hour, Retention: 0, MaxHistory: 10},
		{Timeout: time.Hour, Retention: -time.Hour, MaxHistory: 10},
		{Timeout: time.Hour, Retention: time.Hour, MaxHistory: 1},
	} {
		_, err := state.NewCatering(l)
		require.Error(t, err, "%+v", l)
	}
	def := state.Catering()
	def.Expire = nil
	_, err := state.NewManager(def, testLimits())
	require.Error(t, err)

	dl := state.DefaultLimits()
	require.Equal(t, state.Limits{Timeout: 14 * 24 * time.Hour, Retention: 7 * 24 * time.Hour, MaxHistory: 1000}, dl)
	m := newManager(t, dl)
	require.Equal(t, dl, m.Limits())
	for _, typ := range []string{state.CustomerConfirmedMenu, state.CatererConfirmedMenu, state.CatererDeclinedMenu} {
		require.True(t, m.Handles(typ), typ)
	}
	require.False(t, m.Handles(otherType))
	require.False(t, m.Handles(""))
}

func TestStringers(t *testing.T) {
	require.Equal(t, "applied", state.Applied.String())
	require.Equal(t, "other_type", state.SkippedOtherType.String())
	require.Equal(t, "duplicate", state.SkippedDuplicate.String())
	require.Equal(t, "terminal", state.SkippedTerminal.String())
	require.Equal(t, "history_full", state.RejectedHistoryFull.String())
	require.Equal(t, "result(9)", state.Result(9).String())
	require.Equal(t, "pending", state.Pending.String())
	require.Equal(t, "confirmed", state.Confirmed.String())
	require.Equal(t, "expired", state.Expired.String())
	require.Equal(t, "unknown", state.Status(9).String())
	require.Equal(t, "none", state.NoAnswer.String())
	require.Equal(t, "confirmed", state.Accepted.String())
	require.Equal(t, "declined", state.Declined.String())
}

func TestGenericProjection(t *testing.T) {
	p := state.Init(func() int { return 10 }).
		When("add", func(s int, e state.Entry) int { return s + len(e.Ref) }).
		When("double", func(s int, _ state.Entry) int { return s * 2 })
	require.True(t, p.Handles("add"))
	require.False(t, p.Handles("other"))
	require.Equal(t, 10, p.Fold(nil))
	require.Equal(t, 26, p.Fold([]state.Entry{
		{Type: "add", Ref: "abc"}, {Type: "other", Ref: "zzzz"}, {Type: "double"},
	}))
}
