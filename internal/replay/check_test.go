package replay

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/catering-match/catering-match/internal/catering"
	"github.com/catering-match/catering-match/state"
)

var t0 = time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)

func entry(id, typ, menu string, after time.Duration) state.Entry {
	return state.Entry{ID: id, Type: typ, Ref: menu, At: state.StampOf(t0.Add(after))}
}

// kinds checks one history against the service's definition and returns
// the kinds of problem found.
func kinds(t *testing.T, limits state.Limits, key string, h []state.Entry) []Kind {
	t.Helper()
	c, err := newChecker(catering.Definition(), limits, 0, &Report{})
	require.NoError(t, err)
	var ks []Kind
	for _, p := range c.check(key, h) {
		t.Logf("%s: %s", p.Kind, p.Detail)
		ks = append(ks, p.Kind)
	}
	return ks
}

// Histories the service writes replay without a difference; histories it
// would not write (a decision at the wrong place, an event it skips) are
// caught, by kind.
func TestCheckHistories(t *testing.T) {
	const (
		cust    = state.CustomerConfirmedMenu
		cat     = state.CatererConfirmedMenu
		decline = state.CatererDeclinedMenu
	)
	day := 24 * time.Hour
	limits := state.DefaultLimits()
	confirm := func(menu string, after time.Duration) state.Entry {
		return entry(state.CommandID("42"), state.ConfirmOrderIssued, menu, after)
	}
	expire := func(after time.Duration) state.Entry { return entry(expiryID("42"), state.MatchExpired, "", after) }
	for _, tc := range []struct {
		name   string
		limits func(*state.Limits)
		h      []state.Entry
		want   []Kind
	}{
		{name: "pending", h: []state.Entry{entry("e1", cust, "a", 0)}},
		{name: "pending on two menus", h: []state.Entry{entry("e1", cust, "a", 0), entry("e2", cat, "b", time.Minute)}},
		{name: "confirmed", h: []state.Entry{entry("e1", cust, "a", 0), entry("e2", cat, "a", time.Minute), confirm("a", time.Minute)}},
		{name: "confirmation withdrawn", h: []state.Entry{entry("e1", cat, "a", 0), entry("e2", decline, "a", time.Minute), entry("e3", cust, "a", 2*time.Minute)}},
		{name: "confirmation restored", h: []state.Entry{entry("e1", decline, "", 0), entry("e2", cust, "", time.Minute), entry("e3", cat, "", 2*time.Minute), confirm("", 2*time.Minute)}},
		{name: "expired by a tick", h: []state.Entry{entry("e1", cust, "a", 0), expire(14*day + time.Hour)}},
		{name: "expired at the deadline", h: []state.Entry{entry("e1", cust, "a", 0), expire(14 * day)}},
		{name: "history full", limits: func(l *state.Limits) { l.MaxHistory = 2 }, h: []state.Entry{entry("e1", cust, "a", 0), entry("e2", cat, "b", time.Minute)}},

		{name: "expired before the deadline", h: []state.Entry{entry("e1", cust, "a", 0), expire(14*day - time.Second)},
			want: []Kind{KindDecisionUnexpected}},
		{name: "confirmed without a match", h: []state.Entry{entry("e1", cust, "a", 0), entry("e2", cat, "b", time.Minute), confirm("b", time.Minute)},
			want: []Kind{KindDecisionUnexpected}},
		{name: "match not confirmed", h: []state.Entry{entry("e1", cust, "a", 0), entry("e2", cat, "a", time.Minute)},
			want: []Kind{KindDecisionMissing}},
		{name: "confirmed late", h: []state.Entry{entry("e1", cust, "a", 0), entry("e2", cat, "a", time.Minute), entry("e3", cust, "b", 2*time.Minute), confirm("a", 2*time.Minute)},
			want: []Kind{KindDecisionDiffers}},
		{name: "confirmed on the other menu", h: []state.Entry{entry("e1", cust, "a", 0), entry("e2", cat, "a", time.Minute), confirm("b", time.Minute)},
			want: []Kind{KindDecisionDiffers}},
		{name: "event after the deadline", h: []state.Entry{entry("e1", cust, "a", 0), entry("e2", cat, "b", 15*day)},
			want: []Kind{KindDecisionMissing}},
		{name: "duplicate id", h: []state.Entry{entry("e1", cust, "a", 0), entry("e1", cat, "b", time.Minute)},
			want: []Kind{KindEventRefused}},
		{name: "type without a handler", h: []state.Entry{entry("e1", cust, "a", 0), entry("e2", "MenuChanged", "a", time.Minute)},
			want: []Kind{KindEventRefused}},
		{name: "over max history", limits: func(l *state.Limits) { l.MaxHistory = 2 }, h: []state.Entry{entry("e1", cust, "a", 0), entry("e2", cat, "b", time.Minute), entry("e3", cat, "c", 2*time.Minute)},
			want: []Kind{KindEventRefused}},
		{name: "shorter timeout than the store's", limits: func(l *state.Limits) { l.Timeout = day }, h: []state.Entry{entry("e1", cust, "a", 0), entry("e2", cat, "b", 2*day)},
			want: []Kind{KindDecisionMissing}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l := limits
			if tc.limits != nil {
				tc.limits(&l)
			}
			require.Equal(t, tc.want, kinds(t, l, "42", tc.h))
		})
	}
}

// The stored rules and the service's definition agree on each next step of
// a pending process (else every pending process would differ).
func TestNextStepsAgree(t *testing.T) {
	for _, h := range [][]state.Entry{
		{entry("e1", state.CatererConfirmedMenu, "a", 0), entry("e2", state.CatererDeclinedMenu, "a", time.Minute)},
		{entry("e1", state.CustomerConfirmedMenu, "", 0)},
		{entry("e1", state.CatererConfirmedMenu, "a", 0), entry("e2", state.CustomerConfirmedMenu, "b", time.Minute), entry("e3", state.CatererDeclinedMenu, "b", time.Minute)},
	} {
		c, err := newChecker(catering.Definition(), state.DefaultLimits(), 0, &Report{})
		require.NoError(t, err)
		require.Nil(t, c.next("42", h, storedState(h), c.m.Restore(h)))
	}
}
