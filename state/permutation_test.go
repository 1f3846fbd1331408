package state_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/catering-match/catering-match/state"
)

// permutations returns every ordering of 0..n-1.
func permutations(n int) [][]int {
	var out [][]int
	var rec func(prefix []int, used []bool)
	rec = func(prefix []int, used []bool) {
		if len(prefix) == n {
			out = append(out, append([]int(nil), prefix...))
			return
		}
		for i := 0; i < n; i++ {
			if !used[i] {
				used[i] = true
				rec(append(prefix, i), used)
				used[i] = false
			}
		}
	}
	rec(nil, make([]bool, n))
	return out
}

// matchModel is the independent statement of rules 1-5 (no time): it returns
// the index of the event that completes the match and the menu, or -1.
func matchModel(evs []state.Entry) (at int, menu string) {
	seen := map[string]bool{}
	customer := map[string]bool{}
	caterer := map[string]string{} // menu -> "yes" / "no"
	for i, e := range evs {
		switch e.Type {
		case state.CustomerConfirmedMenu, state.CatererConfirmedMenu, state.CatererDeclinedMenu:
		default:
			continue // someone else's event
		}
		if seen[e.ID] {
			continue
		}
		seen[e.ID] = true
		switch e.Type {
		case state.CustomerConfirmedMenu:
			customer[e.Ref] = true
		case state.CatererConfirmedMenu:
			caterer[e.Ref] = "yes"
		case state.CatererDeclinedMenu:
			caterer[e.Ref] = "no"
		}
		if customer[e.Ref] && caterer[e.Ref] == "yes" {
			return i, e.Ref
		}
	}
	return -1, ""
}

func describe(evs []state.Entry) string {
	var b strings.Builder
	for _, e := range evs {
		fmt.Fprintf(&b, "%s(%s,%q) ", e.Type, e.ID, e.Ref)
	}
	return b.String()
}

func TestPermutations(t *testing.T) {
	sets := []struct {
		name  string
		facts []state.Entry
	}{
		{"customer and caterer confirm A", []state.Entry{cust("c1", "A"), catOK("k1", "A")}},
		{"plus a duplicate customer confirmation", []state.Entry{cust("c1", "A"), catOK("k1", "A"), cust("c1", "A")}},
		{"plus a duplicate caterer confirmation", []state.Entry{cust("c1", "A"), catOK("k1", "A"), catOK("k1", "A")}},
		{"caterer declines then confirms A", []state.Entry{cust("c1", "A"), catNo("k1", "A"), catOK("k2", "A")}},
		{"menu B confirmed by the customer only", []state.Entry{cust("c1", "A"), catOK("k1", "A"), cust("c2", "B")}},
		{"another type on the topic", []state.Entry{cust("c1", "A"), catOK("k1", "A"), other("n1")}},
		{"other type reusing an event id", []state.Entry{cust("c1", "A"), other("k1"), catOK("k1", "A")}},
		{"never a match", []state.Entry{cust("c1", "B"), catNo("k1", "A"), cust("c2", "A"), catOK("k2", "C")}},
		{"default menu", []state.Entry{cust("c1", ""), catOK("k1", ""), catNo("k2", "")}},
		{"everything", []state.Entry{
			cust("c1", "A"), catNo("k1", "A"), catOK("k2", "A"), cust("c2", "B"), other("n1"), catOK("k2", "A"),
		}},
		{"two menus race", []state.Entry{cust("c1", "A"), catOK("k1", "A"), cust("c2", "B"), catOK("k2", "B"), catNo("k3", "A")}},
	}

	m := newManager(t, state.DefaultLimits())
	for _, set := range sets {
		t.Run(set.name, func(t *testing.T) {
			matches := 0
			for _, perm := range permutations(len(set.facts)) {
				evs := make([]state.Entry, len(perm))
				for i, j := range perm {
					evs[i] = set.facts[j]
				}
				wantAt, wantMenu := matchModel(evs)
				if wantAt >= 0 {
					matches++
				}
				var p *state.Process[state.Order]
				var issued []state.Entry
				for i, e := range evs {
					now := t0.Add(time.Duration(i) * time.Second)
					out := m.Apply(p, orderKey, e, now)
					for _, d := range out.Decisions {
						require.Equal(t, state.ConfirmOrderIssued, d.Type, describe(evs))
						require.Equal(t, i, wantAt, "issued at the wrong event: %s", describe(evs))
						issued = append(issued, d)
					}
					p = out.Process
				}
				// Redelivery of the whole sequence changes nothing.
				for i, e := range evs {
					out := m.Apply(p, orderKey, e, t0.Add(time.Minute+time.Duration(i)*time.Second))
					require.Empty(t, out.Decisions, "redelivery: %s", describe(evs))
					require.NotEqual(t, state.Applied, out.Result, "redelivery: %s", describe(evs))
					p = out.Process
				}
				if wantAt < 0 {
					require.Empty(t, issued, describe(evs))
					require.Equal(t, state.Pending, p.State.Status, describe(evs))
					continue
				}
				require.Len(t, issued, 1, describe(evs))
				require.Equal(t, wantMenu, issued[0].Ref, describe(evs))
				require.Equal(t, state.CommandID(orderKey), issued[0].ID)
				require.Equal(t, state.Confirmed, p.State.Status)
				require.Equal(t, wantMenu, p.State.ConfirmedMenu())
				require.Equal(t, m.Restore(p.History).State, p.State)
			}
			t.Logf("%d permutations, %d form a match", len(permutations(len(set.facts))), matches)
		})
	}
}

// TestPermutationsCatererOrderPreserved: interleavings that keep the caterer's
// answers for A in partition order (decline, then confirm) always match.
func TestPermutationsCatererOrderPreserved(t *testing.T) {
	m := newManager(t, state.DefaultLimits())
	facts := []state.Entry{catNo("k1", "A"), catOK("k2", "A"), cust("c1", "A"), cust("c2", "B"), other("n1")}
	n := 0
	for _, perm := range permutations(len(facts)) {
		evs := make([]state.Entry, len(perm))
		pos := map[string]int{}
		for i, j := range perm {
			evs[i] = facts[j]
			pos[facts[j].ID] = i
		}
		if pos["k1"] > pos["k2"] {
			continue
		}
		n++
		var p *state.Process[state.Order]
		count := 0
		for i, e := range evs {
			out := m.Apply(p, orderKey, e, t0.Add(time.Duration(i)*time.Second))
			count += len(out.Decisions)
			p = out.Process
		}
		require.Equal(t, 1, count, describe(evs))
		require.Equal(t, "A", p.State.ConfirmedMenu(), describe(evs))
	}
	require.Equal(t, 60, n)
}
