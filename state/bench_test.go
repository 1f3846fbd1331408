package state_test

import (
	"fmt"
	"testing"

	"github.com/catering-match/catering-match/state"
)

func BenchmarkApply(b *testing.B) {
	m := newManager(b, state.DefaultLimits())
	c, k := cust("c1", "menu-a"), catOK("k1", "menu-a")
	b.ReportAllocs()
	for b.Loop() {
		out := m.Apply(nil, orderKey, c, t0)
		out = m.Apply(out.Process, orderKey, k, t0)
		if len(out.Decisions) != 1 {
			b.Fatal("no match")
		}
	}
}

func BenchmarkFold(b *testing.B) {
	m := newManager(b, state.DefaultLimits())
	for _, n := range []int{2, 100} {
		history := make([]state.Entry, 0, n)
		for i := 0; i < n-1; i++ {
			e := cust(fmt.Sprintf("c%d", i), fmt.Sprintf("menu-%d", i%10))
			if i%3 == 1 {
				e = catNo(fmt.Sprintf("k%d", i), fmt.Sprintf("menu-%d", i%10))
			}
			e.At = state.StampOf(t0)
			history = append(history, e)
		}
		last := catOK("last", "never-confirmed-by-customer")
		last.At = state.StampOf(t0)
		history = append(history, last)
		b.Run(fmt.Sprintf("entries=%d", n), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				p := m.Restore(history)
				if p.State.Status != state.Pending {
					b.Fatal("unexpected status")
				}
			}
		})
		// The same fold through the handlers, entry by entry (what Restore
		// did before the catering definition set FoldWith).
		proj := state.Catering().Projection
		b.Run(fmt.Sprintf("handlers/entries=%d", n), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if proj.FoldHandlers(history).Status != state.Pending {
					b.Fatal("unexpected status")
				}
			}
		})
	}
}
