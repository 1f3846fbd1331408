package state_test

import (
	"testing"

	"github.com/stretchr/testify/require"
	"pgregory.net/rapid"

	"github.com/catering-match/catering-match/state"
)

// TestFoldOrderEqualsHandlers: the catering definition's whole-history fold
// (FoldWith) gives what its handlers give entry by entry, for any history:
// any mix of the five types and others, few or many menus (more than the 8
// it gathers on the stack), repeated and conflicting answers, decisions
// anywhere.
func TestFoldOrderEqualsHandlers(t *testing.T) {
	p := state.Catering().Projection
	types := []string{state.CustomerConfirmedMenu, state.CatererConfirmedMenu, state.CatererDeclinedMenu,
		state.ConfirmOrderIssued, state.MatchExpired, "SomethingElse"}
	rapid.Check(t, func(t *rapid.T) {
		menus := rapid.IntRange(1, 12).Draw(t, "menus")
		h := rapid.SliceOfN(rapid.Custom(func(t *rapid.T) state.Entry {
			return state.Entry{
				ID:   rapid.StringMatching(`[a-z0-9-]{1,6}`).Draw(t, "id"),
				Type: rapid.SampledFrom(types).Draw(t, "type"),
				Ref:  []string{"", "m1", "m2", "m3", "m4", "m5", "m6", "m7", "m8", "m9", "m10", "m11"}[rapid.IntRange(0, menus-1).Draw(t, "menu")],
				At:   state.Stamp(rapid.Int64().Draw(t, "at")),
			}
		}), 0, 40).Draw(t, "history")
		want, got := p.FoldHandlers(h), p.Fold(h)
		require.Equal(t, want, got)
		require.Equal(t, len(got.Menus), cap(got.Menus), "no spare capacity kept in a restored process")
		require.Equal(t, want.Status, state.StatusOf(h), "StatusOf is the fold's status")
	})
}

// TestStatusOfEqualsFold: StatusOf gives the status of the handlers' fold
// for histories as processes make them (events, then at most one decision
// at the end) and for any mix of entry types, decisions in the middle
// and several decisions included.
func TestStatusOfEqualsFold(t *testing.T) {
	p := state.Catering().Projection
	types := []string{state.CustomerConfirmedMenu, state.CatererConfirmedMenu, state.CatererDeclinedMenu,
		state.ConfirmOrderIssued, state.MatchExpired, "SomethingElse", "ConfirmOrderIssuedX", ""}
	rapid.Check(t, func(t *rapid.T) {
		h := rapid.SliceOfN(rapid.Custom(func(t *rapid.T) state.Entry {
			return state.Entry{ID: "e", Type: rapid.SampledFrom(types).Draw(t, "type"), Ref: rapid.SampledFrom([]string{"", "m1", "m2"}).Draw(t, "menu")}
		}), 0, 20).Draw(t, "history")
		require.Equal(t, p.FoldHandlers(h).Status, state.StatusOf(h))
	})
}

// TestWhenAfterFoldWithClearsIt: a handler registered after FoldWith (a
// replay of a changed definition does this) is used by Fold; the
// whole-history fold, written for the old handlers, is dropped.
func TestWhenAfterFoldWithClearsIt(t *testing.T) {
	p := state.Catering().Projection
	h := []state.Entry{{ID: "c", Type: state.CustomerConfirmedMenu, Ref: "m"}, {ID: "x", Type: state.MatchExpired}}
	require.Equal(t, state.Expired, p.Fold(h).Status)
	p.When(state.MatchExpired, func(o state.Order, _ state.Entry) state.Order { return o })
	require.Equal(t, state.Pending, p.Fold(h).Status, "the new handler, not foldOrder")
}
