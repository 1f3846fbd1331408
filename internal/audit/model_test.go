package audit

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

const (
	cust  = CustomerConfirmedMenu
	catOK = CatererConfirmedMenu
	catNo = CatererDeclinedMenu
	other = "OrderNoteAdded"
)

var t0 = time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)

// steps builds one order's steps, one minute apart unless at is given.
type st struct {
	id, typ, menu string
	at            time.Duration // from t0; 0: i minutes
}

func mk(in ...st) []Step {
	out := make([]Step, len(in))
	for i, s := range in {
		at := s.at
		if at == 0 {
			at = time.Duration(i) * time.Minute
		}
		out[i] = Step{Event: Event{ID: s.id, Type: s.typ, OrderID: "o", MenuID: s.menu}, At: t0.Add(at), Offset: int64(i)}
	}
	return out
}

func TestSimulate(t *testing.T) {
	const (
		A = Applied
		O = SkippedOtherType
		D = SkippedDuplicate
		T = SkippedTerminal
		F = HistoryFull
	)
	day := 24 * time.Hour
	type cmd struct {
		menu, causation string
		incarnation     int
	}
	for _, tc := range []struct {
		name    string
		limits  func(*Limits)
		steps   []st
		results []Result
		cmds    []cmd
		expired int
	}{
		{name: "customer then caterer", steps: []st{{"e1", cust, "a", 0}, {"e2", catOK, "a", 0}},
			results: []Result{A, A}, cmds: []cmd{{"a", "e2", 1}}},
		{name: "caterer then customer, default menu", steps: []st{{"e1", catOK, "", 0}, {"e2", cust, "", 0}},
			results: []Result{A, A}, cmds: []cmd{{"", "e2", 1}}},
		{name: "duplicates resent after the match", steps: []st{{"c", cust, "a", 0}, {"c", cust, "a", 0}, {"k", catOK, "a", 0}, {"c", cust, "a", 0}, {"k", catOK, "a", 0}},
			results: []Result{A, D, A, D, D}, cmds: []cmd{{"a", "k", 1}}},
		{name: "decline then confirm", steps: []st{{"e1", cust, "a", 0}, {"e2", catNo, "a", 0}, {"e3", catOK, "a", 0}},
			results: []Result{A, A, A}, cmds: []cmd{{"a", "e3", 1}}},
		{name: "confirm then decline then customer", steps: []st{{"e1", catOK, "a", 0}, {"e2", catNo, "a", 0}, {"e3", cust, "a", 0}},
			results: []Result{A, A, A}},
		{name: "several menus, match on the second", steps: []st{{"e1", cust, "a", 0}, {"e2", cust, "b", 0}, {"e3", catNo, "a", 0}, {"e4", catOK, "b", 0}},
			results: []Result{A, A, A, A}, cmds: []cmd{{"b", "e4", 1}}},
		{name: "sides on different menus", steps: []st{{"e1", cust, "a", 0}, {"e2", catOK, "b", 0}},
			results: []Result{A, A}},
		{name: "named menu is not the default", steps: []st{{"e1", cust, "", 0}, {"e2", catOK, "default", 0}},
			results: []Result{A, A}},
		{name: "stragglers after the match", steps: []st{{"e1", cust, "a", 0}, {"e2", catOK, "a", 0}, {"e3", catNo, "a", 0}, {"e4", cust, "b", 0}, {"e5", catOK, "b", 0}},
			results: []Result{A, A, T, T, T}, cmds: []cmd{{"a", "e2", 1}}},
		{name: "other types around a match", steps: []st{{"n1", other, "", 0}, {"e1", catOK, "a", 0}, {"n2", other, "a", 0}, {"e2", cust, "a", 0}, {"n3", other, "a", 0}},
			results: []Result{O, A, O, A, O}, cmds: []cmd{{"a", "e2", 1}}},
		{name: "other type with a process's id", steps: []st{{"e1", cust, "a", 0}, {"e1", other, "a", 0}, {"e2", catOK, "a", 0}},
			results: []Result{A, O, A}, cmds: []cmd{{"a", "e2", 1}}},
		{name: "same id, other type, is a duplicate", steps: []st{{"e1", cust, "a", 0}, {"e1", catOK, "a", 0}},
			results: []Result{A, D}},
		{name: "history full", limits: func(l *Limits) { l.MaxHistory = 3 },
			steps:   []st{{"e1", cust, "a", 0}, {"e2", cust, "b", 0}, {"e3", catOK, "c", 0}, {"e4", catOK, "a", 0}, {"e1", cust, "a", 0}, {"n", other, "a", 0}, {"e5", catOK, "b", 0}},
			results: []Result{A, A, A, F, D, O, F}},
		{name: "history full at exactly max: the last applied may match", limits: func(l *Limits) { l.MaxHistory = 2 },
			steps:   []st{{"e1", cust, "a", 0}, {"e2", catOK, "a", 0}, {"e3", cust, "b", 0}},
			results: []Result{A, A, T}, cmds: []cmd{{"a", "e2", 1}}},
		{name: "expired before the match", steps: []st{{"e1", cust, "a", 0}, {"e2", catOK, "a", 15 * day}},
			results: []Result{A, T}, expired: 1},
		{name: "just before the deadline", steps: []st{{"e1", cust, "a", 0}, {"e2", catOK, "a", 14*day - time.Minute}},
			results: []Result{A, A}, cmds: []cmd{{"a", "e2", 1}}},
		{name: "deadline counts from the first applied event, not other types", steps: []st{{"n", other, "a", time.Nanosecond}, {"e1", cust, "a", 2 * day}, {"e2", catOK, "a", 15 * day}},
			results: []Result{O, A, A}, cmds: []cmd{{"a", "e2", 1}}},
		{name: "forgotten after retention: a new process", steps: []st{{"e1", cust, "a", 0}, {"e2", catOK, "a", time.Hour}, {"e2", catOK, "a", 2 * day}, {"e1", cust, "a", 8 * day}, {"e2", catOK, "a", 8*day + time.Hour}},
			results: []Result{A, A, D, A, A}, cmds: []cmd{{"a", "e2", 1}, {"a", "e2", 2}}},
		{name: "retention counts from the match", steps: []st{{"e1", cust, "a", 0}, {"e2", catOK, "a", 3 * day}, {"e1", cust, "a", 8 * day}},
			results: []Result{A, A, D}, cmds: []cmd{{"a", "e2", 1}}},
		{name: "expired, then forgotten", steps: []st{{"e1", cust, "a", 0}, {"e2", catOK, "a", 15 * day}, {"e3", catOK, "a", 21*day + time.Hour}, {"e1", cust, "a", 21*day + 2*time.Hour}},
			results: []Result{A, T, A, A}, cmds: []cmd{{"a", "e1", 2}}, expired: 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l := DefaultLimits()
			if tc.limits != nil {
				tc.limits(&l)
			}
			out := Simulate(mk(tc.steps...), l)
			require.Equal(t, tc.results, out.Results)
			var got []cmd
			for _, c := range out.Commands {
				got = append(got, cmd{c.MenuID, c.CausationID, c.Incarnation})
			}
			if len(tc.cmds) == 0 {
				require.Empty(t, got)
			} else {
				require.Equal(t, tc.cmds, got)
			}
			require.Equal(t, tc.expired, out.Expired)
		})
	}
}

func TestPossibleNearBoundaries(t *testing.T) {
	l := DefaultLimits()
	day := 24 * time.Hour

	// Far from every boundary: one outcome.
	outs, capped := Possible(mk(st{"e1", cust, "a", 0}, st{"e2", catOK, "a", day}), l)
	require.False(t, capped)
	require.Len(t, outs, 1)

	// The caterer answers 5 minutes after the deadline: with a 10-minute
	// tolerance the match may or may not have happened.
	near := mk(st{"e1", cust, "a", 0}, st{"e2", catOK, "a", 14*day + 5*time.Minute})
	outs, _ = Possible(near, l)
	require.Len(t, outs, 2)
	require.Empty(t, outs[0].Commands, "nominal: expired")
	require.Len(t, outs[1].Commands, 1)

	l.Tolerance = 0
	outs, _ = Possible(near, l)
	require.Len(t, outs, 1)

	// A resend 3 minutes before the retention boundary: a duplicate, or a
	// new process (which does not match alone: the same outcome).
	l = DefaultLimits()
	outs, _ = Possible(mk(st{"e1", cust, "a", 0}, st{"e2", catOK, "a", time.Hour}, st{"e2", catOK, "a", 7*day + time.Hour - 3*time.Minute}), l)
	require.Len(t, outs, 1)
	// ... but both sides again near the boundary: a second command or not.
	outs, _ = Possible(mk(st{"e1", cust, "a", 0}, st{"e2", catOK, "a", time.Hour}, st{"e1", cust, "a", 7*day + time.Hour - 3*time.Minute}, st{"e2", catOK, "a", 7*day + time.Hour - 2*time.Minute}), l)
	require.Len(t, outs, 2)

	// Many boundaries: capped, not endless.
	var many []st
	for i := range 20 {
		many = append(many, st{"x", cust, "a", time.Duration(i)*(14*day+time.Minute) + time.Nanosecond})
	}
	_, capped = Possible(mk(many...), l)
	require.True(t, capped)
}
