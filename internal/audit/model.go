package audit

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// Limits are the service's settings the rules depend on.
type Limits struct {
	// MatchTimeout: a process still pending this long after its first
	// applied event expires (rule 6).
	MatchTimeout time.Duration
	// Retention: a terminal process is forgotten this long after it ended,
	// and a later event starts a new process (rule 7).
	Retention time.Duration
	// MaxHistory: the most domain events a pending process applies; the
	// next one is dead-lettered (rule 8).
	MaxHistory int
	// Tolerance: an event whose approximate processing time lies within
	// this of a deadline or retention boundary may fall either side of it.
	Tolerance time.Duration
}

// DefaultLimits are the contract's defaults and a 10-minute tolerance.
func DefaultLimits() Limits {
	return Limits{MatchTimeout: 14 * 24 * time.Hour, Retention: 7 * 24 * time.Hour, MaxHistory: 1000, Tolerance: 10 * time.Minute}
}

// Validate reports a limit that cannot work.
func (l Limits) Validate() error {
	switch {
	case l.MatchTimeout <= 0:
		return fmt.Errorf("match timeout %v must be positive", l.MatchTimeout)
	case l.Retention <= 0:
		return fmt.Errorf("retention %v must be positive", l.Retention)
	case l.MaxHistory < 1:
		return fmt.Errorf("max history %d must be at least 1", l.MaxHistory)
	case l.Tolerance < 0:
		return fmt.Errorf("time tolerance %v must not be negative", l.Tolerance)
	}
	return nil
}

// Result is what the model says happens to one well-formed event.
type Result uint8

// The results, as the contract's guarantees name them.
const (
	Applied Result = iota
	SkippedOtherType
	SkippedDuplicate
	SkippedTerminal
	HistoryFull
)

var resultNames = [...]string{"applied", "other type", "duplicate", "terminal", "history full"}

func (r Result) String() string {
	if int(r) < len(resultNames) {
		return resultNames[r]
	}
	return fmt.Sprintf("result(%d)", r)
}

// Step is one well-formed event of an order, in partition order, with the
// approximate processing time at which the service handled it.
type Step struct {
	Event
	At        time.Time
	Partition int32
	Offset    int64
}

// Expected is one ConfirmOrder the rules call for.
type Expected struct {
	MenuID      string
	CausationID string // the id of the event that completed the match
	Partition   int32  // that event's coordinates
	Offset      int64
	Incarnation int // 1 for the order's first process, 2 after a retention, ...
}

// Outcome is what the rules make of one order's events.
type Outcome struct {
	Results      []Result   // one per step
	Commands     []Expected // in order
	Expired      int        // processes that expired
	Incarnations int        // processes started (more than 1: forgotten and restarted)
	Procs        []Proc     // one per process started, in order: what its changelog record holds
}

// Proc is one process (incarnation) of an outcome: what its changelog
// record must hold after the steps before some index k.
type Proc struct {
	Start   int       // index of the step that started it (always applied)
	Applied []int     // indices of the steps it applied, in order
	First   time.Time // processing time of its first applied event
	// Decided is the index of the step at which the process became
	// terminal: the step that completed the match (Confirmed), or the step
	// that found it past its deadline and expired it first; -1 when it is
	// still pending after the last step.
	Decided   int
	Confirmed bool
	MenuID    string    // the confirmed menu
	Ended     time.Time // when it became terminal
}

// At returns the process's state after the steps before index k: the
// steps it applied so far and its status, "pending", "confirmed" or
// "expired" (the expiry that a later step found is counted only once that
// step is; a tick may have written it earlier, see the changelog check).
func (p *Proc) At(k int) (applied []int, status string) {
	for _, i := range p.Applied {
		if i < k {
			applied = append(applied, i)
		}
	}
	switch {
	case p.Decided < 0 || p.Decided >= k:
		return applied, statusPending
	case p.Confirmed:
		return applied, statusConfirmed
	}
	return applied, statusExpired
}

// The statuses of a process, as the changelog check names them.
const (
	statusPending   = "pending"
	statusConfirmed = "confirmed"
	statusExpired   = "expired"
)

// refused reports whether step i was dead-lettered as history full.
func (o *Outcome) refused(i int) bool { return o.Results[i] == HistoryFull }

// signature identifies what an outcome puts on the topics: its commands and
// its dead letters. Two outcomes with the same signature are
// indistinguishable to the checker.
func (o *Outcome) signature() string {
	var b strings.Builder
	for _, c := range o.Commands {
		fmt.Fprintf(&b, "c%d/%d;", c.Partition, c.Offset)
	}
	for i, r := range o.Results {
		if r == HistoryFull {
			fmt.Fprintf(&b, "f%d;", i)
		}
	}
	return b.String()
}

// detailSignature identifies everything an outcome puts on the topics,
// the changelog included: besides its signature, each step's result and
// process, and where each process was decided.
func (o *Outcome) detailSignature() string {
	var b strings.Builder
	b.WriteString(o.signature())
	for _, r := range o.Results {
		fmt.Fprintf(&b, "%d", r)
	}
	for _, p := range o.Procs {
		fmt.Fprintf(&b, ";p%d/%d/%t", p.Start, p.Decided, p.Confirmed)
	}
	return b.String()
}

// process is the model's state of one process incarnation.
type process struct {
	first    time.Time // processing time of the first applied event
	applied  map[string]bool
	count    int
	customer map[string]bool
	caterer  map[string]bool // menu -> the caterer's latest answer is a confirmation
	terminal bool
	ended    time.Time
}

// chooser decides comparisons of a processing time with a boundary.
type chooser interface {
	// atOrAfter reports whether t is at or after boundary.
	atOrAfter(t, boundary time.Time) bool
}

// Simulate applies the contract's rules to one order's steps (all from one
// partition, in offset order), taking each step's At as its processing time.
func Simulate(steps []Step, l Limits) Outcome {
	return simulate(steps, l, exact{})
}

type exact struct{}

func (exact) atOrAfter(t, boundary time.Time) bool { return !t.Before(boundary) }

func simulate(steps []Step, l Limits, c chooser) Outcome {
	out := Outcome{Results: make([]Result, len(steps))}
	var p *process
	var cur *Proc // p's entry in out.Procs
	for i, s := range steps {
		switch s.Type {
		case CustomerConfirmedMenu, CatererConfirmedMenu, CatererDeclinedMenu:
		default:
			out.Results[i] = SkippedOtherType // someone else's event: no process
			continue
		}
		if p != nil && !p.terminal && c.atOrAfter(s.At, p.first.Add(l.MatchTimeout)) {
			// Rule 6: expired at its deadline (the service's tick).
			p.terminal, p.ended = true, p.first.Add(l.MatchTimeout)
			out.Expired++
			cur.Decided, cur.Ended = i, p.ended
		}
		if p != nil && p.terminal && c.atOrAfter(s.At, p.ended.Add(l.Retention)) {
			p = nil // rule 7: forgotten; this event starts a new process
		}
		if p == nil {
			p = &process{applied: map[string]bool{}, customer: map[string]bool{}, caterer: map[string]bool{}}
			out.Incarnations++
			out.Procs = append(out.Procs, Proc{Start: i, Decided: -1})
		}
		cur = &out.Procs[len(out.Procs)-1] // re-taken: append may have moved it
		switch {
		case p.applied[s.ID]:
			out.Results[i] = SkippedDuplicate // rule 1
			continue
		case p.terminal:
			out.Results[i] = SkippedTerminal // rule 5
			continue
		case p.count >= l.MaxHistory:
			out.Results[i] = HistoryFull // rule 8
			continue
		}
		out.Results[i] = Applied
		if p.count == 0 {
			p.first = s.At
			cur.First = s.At
		}
		cur.Applied = append(cur.Applied, i)
		p.applied[s.ID] = true
		p.count++
		switch s.Type {
		case CustomerConfirmedMenu:
			p.customer[s.MenuID] = true // rule 2
		case CatererConfirmedMenu:
			p.caterer[s.MenuID] = true // rule 3
		case CatererDeclinedMenu:
			p.caterer[s.MenuID] = false
		}
		if p.customer[s.MenuID] && p.caterer[s.MenuID] { // rule 4
			p.terminal, p.ended = true, s.At
			cur.Decided, cur.Confirmed, cur.MenuID, cur.Ended = i, true, s.MenuID, s.At
			out.Commands = append(out.Commands, Expected{
				MenuID: s.MenuID, CausationID: s.ID, Partition: s.Partition, Offset: s.Offset, Incarnation: out.Incarnations,
			})
		}
	}
	return out
}

// maxBranches bounds the outcomes explored for one order.
const maxBranches = 64

// Possible returns every outcome of steps when each comparison of a
// processing time with a boundary that lies within the tolerance may go
// either way: the first is the nominal one (every comparison exact), the
// others are distinct. capped is true when there were too many such
// comparisons to explore them all.
func Possible(steps []Step, l Limits) (outs []Outcome, capped bool) {
	return possibleOutcomes(steps, l, false)
}

// possibleOutcomes is Possible; with detail, outcomes that differ only in
// what the changelog holds are distinct too.
func possibleOutcomes(steps []Step, l Limits, detail bool) (outs []Outcome, capped bool) {
	seen := map[string]bool{}
	runs := 0
	var explore func(prefix []bool)
	explore = func(prefix []bool) {
		if runs >= maxBranches {
			capped = true
			return
		}
		runs++
		b := &brancher{tol: l.Tolerance, prefix: prefix}
		o := simulate(steps, l, b)
		sig := o.signature()
		if detail {
			sig = o.detailSignature()
		}
		if !seen[sig] {
			seen[sig] = true
			outs = append(outs, o)
		}
		for j := len(prefix); j < len(b.taken); j++ {
			explore(append(slices.Clone(b.taken[:j]), !b.taken[j]))
		}
	}
	explore(nil)
	return outs, capped
}

// brancher takes the choices in prefix for the first near-boundary
// comparisons and the exact answer for the others, recording what it took.
type brancher struct {
	tol    time.Duration
	prefix []bool
	taken  []bool
}

func (b *brancher) atOrAfter(t, boundary time.Time) bool {
	nominal := !t.Before(boundary)
	d := t.Sub(boundary)
	if b.tol <= 0 || d > b.tol || d < -b.tol {
		return nominal
	}
	choice := nominal
	if i := len(b.taken); i < len(b.prefix) {
		choice = b.prefix[i]
	}
	b.taken = append(b.taken, choice)
	return choice
}
