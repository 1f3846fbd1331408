package state_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"pgregory.net/rapid"

	"github.com/catering-match/catering-match/state"
)

// refModel is an independent statement of docs/contract.md rules 1-8 for one order,
// in plain maps: no state.Projection, no state.Manager.
type refModel struct {
	limits    state.Limits
	started   bool
	first     time.Time
	ended     time.Time
	status    state.Status
	seen      map[string]bool
	menuOrder []string
	customer  map[string]bool
	caterer   map[string]state.Answer
	events    int // domain events applied
	entries   int // events + decisions
	confirmed string
	issued    int
}

func newRef(l state.Limits) *refModel {
	return &refModel{limits: l, seen: map[string]bool{}, customer: map[string]bool{}, caterer: map[string]state.Answer{}}
}

func (r *refModel) mention(menu string) {
	if _, ok := r.customer[menu]; !ok {
		r.customer[menu] = false
		r.caterer[menu] = state.NoAnswer
		r.menuOrder = append(r.menuOrder, menu)
	}
}

// apply returns the result and the decisions ("Type:menu") the rules dictate.
func (r *refModel) apply(ev state.Entry, now time.Time) (state.Result, []string) {
	switch ev.Type {
	case state.CustomerConfirmedMenu, state.CatererConfirmedMenu, state.CatererDeclinedMenu:
	default:
		return state.SkippedOtherType, nil
	}
	var decisions []string
	if r.started && r.status == state.Pending && !now.Before(r.first.Add(r.limits.Timeout)) {
		r.status, r.ended = state.Expired, now
		r.entries++
		decisions = append(decisions, state.MatchExpired+":")
	}
	switch {
	case r.seen[ev.ID]:
		return state.SkippedDuplicate, decisions
	case r.status != state.Pending:
		return state.SkippedTerminal, decisions
	case r.events >= r.limits.MaxHistory:
		return state.RejectedHistoryFull, decisions
	}
	if !r.started {
		r.started, r.first = true, now
	}
	r.seen[ev.ID] = true
	r.events++
	r.entries++
	r.mention(ev.Ref)
	switch ev.Type {
	case state.CustomerConfirmedMenu:
		r.customer[ev.Ref] = true
	case state.CatererConfirmedMenu:
		r.caterer[ev.Ref] = state.Accepted
	case state.CatererDeclinedMenu:
		r.caterer[ev.Ref] = state.Declined
	}
	if r.customer[ev.Ref] && r.caterer[ev.Ref] == state.Accepted {
		r.status, r.ended, r.confirmed = state.Confirmed, now, ev.Ref
		r.entries++
		r.issued++
		decisions = append(decisions, state.ConfirmOrderIssued+":"+ev.Ref)
	}
	return state.Applied, decisions
}

func (r *refModel) order(key string) state.Order {
	o := state.Order{Status: r.status}
	for _, id := range r.menuOrder {
		o.Menus = append(o.Menus, state.Menu{ID: id, Customer: r.customer[id], Caterer: r.caterer[id]})
	}
	if r.status == state.Confirmed {
		o.Confirmation = &state.Confirmation{Menu: r.confirmed, CommandID: state.CommandID(key)}
	}
	return o
}

func (r *refModel) forget(now time.Time) bool {
	return r.status != state.Pending && !now.Before(r.ended.Add(r.limits.Retention))
}

var propTypes = []string{
	state.CustomerConfirmedMenu, state.CatererConfirmedMenu, state.CatererDeclinedMenu, otherType,
}

func TestPropertyAgainstReferenceModel(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		limits := state.Limits{
			Timeout:    time.Hour,
			Retention:  time.Duration(rapid.IntRange(1, 90).Draw(rt, "retentionMin")) * time.Minute,
			MaxHistory: rapid.IntRange(2, 8).Draw(rt, "maxHistory"),
		}
		m, err := state.NewCatering(limits)
		require.NoError(rt, err)
		key := rapid.SampledFrom([]string{"42", "order-x"}).Draw(rt, "key")
		ref := newRef(limits)
		var p *state.Process[state.Order]
		now := t0
		steps := rapid.IntRange(1, 40).Draw(rt, "steps")
		for i := 0; i < steps; i++ {
			now = now.Add(rapid.SampledFrom([]time.Duration{
				0, time.Nanosecond, time.Minute, 10 * time.Minute, 30 * time.Minute, 59 * time.Minute,
			}).Draw(rt, "dt"))
			ev := state.Entry{
				ID:   fmt.Sprintf("e%d", rapid.IntRange(0, 5).Draw(rt, "id")),
				Type: rapid.SampledFrom(propTypes).Draw(rt, "type"),
				Ref:  rapid.SampledFrom([]string{"", "a", "b"}).Draw(rt, "menu"),
			}
			if rapid.IntRange(0, 9).Draw(rt, "restart") == 0 && p != nil {
				p = m.Restore(append([]state.Entry(nil), p.History...)) // a restart: fold the changelog
			}

			before := snapshot(p)
			out := m.Apply(p, key, ev, now)
			wantRes, wantDec := ref.apply(ev, now)

			require.Equal(rt, before, p, "Apply mutated its input")
			require.Equal(rt, wantRes, out.Result, "step %d %+v", i, ev)
			require.Equal(rt, wantDec, decisionTypes(out.Decisions), "step %d %+v", i, ev)
			for _, d := range out.Decisions {
				require.Equal(rt, state.StampOf(now), d.At)
				if d.Type == state.ConfirmOrderIssued {
					require.Equal(rt, state.CommandID(key), d.ID)
				}
			}
			require.Equal(rt, wantRes == state.Applied || len(wantDec) > 0, out.Changed())
			if !out.Changed() {
				require.Same(rt, p, out.Process)
			}
			p = out.Process
			if p == nil {
				require.False(rt, ref.started)
				continue
			}

			// The live process agrees with the model.
			require.Equal(rt, ref.order(key), p.State)
			require.Len(rt, p.History, ref.entries)
			if dl, ok := m.Deadline(p); ok {
				require.Equal(rt, state.Pending, ref.status)
				require.Equal(rt, ref.first.Add(limits.Timeout), dl)
			} else {
				require.NotEqual(rt, state.Pending, ref.status)
			}
			if end, ok := m.Ended(p); ok {
				require.Equal(rt, ref.ended, end)
			}

			// Invariants.
			require.LessOrEqual(rt, ref.issued, 1)
			require.LessOrEqual(rt, len(p.History), limits.MaxHistory+1)
			ids := map[string]bool{}
			issued := 0
			for j, e := range p.History {
				require.False(rt, ids[e.ID], "duplicate id %q in history", e.ID)
				ids[e.ID] = true
				if e.Type == state.ConfirmOrderIssued || e.Type == state.MatchExpired {
					require.Equal(rt, len(p.History)-1, j, "entry after a terminal entry")
				}
				if e.Type == state.ConfirmOrderIssued {
					issued++
				}
				if j > 0 {
					require.GreaterOrEqual(rt, e.At, p.History[j-1].At, "history out of time order")
				}
			}
			require.LessOrEqual(rt, issued, 1)
			require.Equal(rt, m.Restore(p.History).State, p.State, "restore != live")

			// Retention: a forgettable process is tombstoned; the model forgets too.
			probe := now.Add(rapid.SampledFrom([]time.Duration{0, 30 * time.Minute, 2 * time.Hour}).Draw(rt, "probe"))
			require.Equal(rt, ref.forget(probe), m.Forget(p, probe))
			if m.Forget(p, now) {
				p, ref = nil, newRef(limits)
			}
		}
	})
}
