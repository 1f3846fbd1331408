// Package state owns the process model: a small, reusable, event-sourced
// process-manager core (a Projection folded over a history, plus a Manager
// that applies events and records decisions) and the catering definition built
// on it. It is pure Go: no Kafka, no I/O, and every time-dependent rule takes
// the clock from its caller.
package state

import (
	"fmt"
	"math"
	"time"
)

// Entry is one event in a process's history: a domain event the process
// applied or a decision the process recorded. At is the processing time at
// which the process recorded it.
type Entry struct {
	ID   string
	Type string
	Ref  string
	At   Stamp
}

// Stamp is a point in time as Unix nanoseconds: what an Entry keeps of a
// time.Time. It takes 8 bytes where a time.Time takes 24 (a location pointer
// among them): 16 B less per entry of every live history, and one pointer
// less for the GC to scan. Its range is 1677-09-21 to 2262-04-11 (UTC); see
// InStampRange.
type Stamp int64

// StampOf is t as a Stamp; t must be in range (InStampRange).
func StampOf(t time.Time) Stamp { return Stamp(t.UnixNano()) }

// Time is s as a time.Time in UTC.
func (s Stamp) Time() time.Time { return time.Unix(0, int64(s)).UTC() }

// String is s in RFC 3339 with nanoseconds, in UTC.
func (s Stamp) String() string { return s.Time().Format(time.RFC3339Nano) }

// add is s + d (d >= 0), at most the latest Stamp.
func (s Stamp) add(d time.Duration) Stamp {
	if t := s + Stamp(d); t >= s {
		return t
	}
	return math.MaxInt64
}

// InStampRange reports whether t is a Stamp without loss.
func InStampRange(t time.Time) bool { return time.Unix(0, t.UnixNano()).Equal(t) }

// Projection folds a history into a state S. It reads the way
// RailsEventStore's Projection.init(...).when(...) does:
//
//	p := state.Init(func() S { ... }).When("A", onA).When("B", onB)
//
// Handlers must not mutate the state they are given (copy a slice before
// changing it): the Manager keeps the previous state until a transaction
// commits.
type Projection[S any] struct {
	init     func() S
	handlers map[string]func(S, Entry) S
	fold     func(history []Entry) S // FoldWith's, or nil
}

// Init starts a projection whose initial state is init().
func Init[S any](init func() S) *Projection[S] {
	return &Projection[S]{init: init, handlers: map[string]func(S, Entry) S{}}
}

// When registers the handler for an event type and returns the projection.
// A When after FoldWith clears the whole-history fold, since that fold
// was written for the handlers as they were.
func (p *Projection[S]) When(eventType string, h func(S, Entry) S) *Projection[S] {
	p.handlers[eventType] = h
	p.fold = nil
	return p
}

// Handles reports whether the projection has a handler for eventType.
func (p *Projection[S]) Handles(eventType string) bool {
	_, ok := p.handlers[eventType]
	return ok
}

// FoldWith sets a function that folds a whole history at once and returns
// the projection. It must give what folding through the handlers gives
// (FoldHandlers), but it may build the state in place, since nothing else
// holds the state it is building: a handler has to copy what it changes,
// a fold of the whole history does not. Fold uses it, which a restore calls
// for every process; Apply still goes through the handlers. Test it
// against FoldHandlers. A later When clears it.
func (p *Projection[S]) FoldWith(fold func(history []Entry) S) *Projection[S] {
	p.fold = fold
	return p
}

// Fold returns the state after applying every entry of history in order.
// Entries without a handler leave the state unchanged.
func (p *Projection[S]) Fold(history []Entry) S {
	if p.fold != nil {
		return p.fold(history)
	}
	return p.FoldHandlers(history)
}

// FoldHandlers is Fold through the handlers, entry by entry, whether or
// not FoldWith is set: the reference a FoldWith function is tested against.
func (p *Projection[S]) FoldHandlers(history []Entry) S {
	s := p.init()
	for _, e := range history {
		s = p.apply(s, e)
	}
	return s
}

func (p *Projection[S]) apply(s S, e Entry) S {
	if h, ok := p.handlers[e.Type]; ok {
		return h(s, e)
	}
	return s
}

// Result says what applying one event did.
type Result uint8

// The results of Manager.Apply.
const (
	// Applied: the event entered the history.
	Applied Result = iota
	// SkippedOtherType: no handler for the event's type; it belongs to
	// someone else on a shared topic.
	SkippedOtherType
	// SkippedDuplicate: the history already holds an event with this id.
	SkippedDuplicate
	// SkippedTerminal: the process has already decided (confirmed or expired).
	SkippedTerminal
	// RejectedHistoryFull: the history holds MaxHistory entries already.
	RejectedHistoryFull
)

var resultNames = [...]string{"applied", "other_type", "duplicate", "terminal", "history_full"}

func (r Result) String() string {
	if int(r) < len(resultNames) {
		return resultNames[r]
	}
	return fmt.Sprintf("result(%d)", r)
}

// Process is one live process instance: its history and the state folded
// from it (cached, so that applying an event does not refold). Its key is
// where it is kept (a Store's map key), not a field: that is 16 B less in
// every live process.
type Process[S any] struct {
	History []Entry
	State   S
}

// Definition describes a process manager. Everything but the Kafka plumbing
// lives here: what the state is (Projection), which decision an applied event
// leads to (Decide), and which decision ends a process that timed out.
type Definition[S any] struct {
	// Projection folds the history, decision entries included.
	Projection *Projection[S]
	// Decide is called after an event was applied. It returns the decision
	// entry to record (its Type must have a handler that makes the state
	// terminal), or ok=false when the process goes on waiting.
	Decide func(key string, s S, applied Entry, now time.Time) (decision Entry, ok bool)
	// Terminal reports whether s is terminal.
	Terminal func(s S) bool
	// Expire returns the decision entry recorded when a process is still
	// not terminal Timeout after its first entry.
	Expire func(key string, s S, now time.Time) Entry
}

// Limits are the time and size bounds of a Manager.
type Limits struct {
	// Timeout: a process not terminal Timeout after its first entry expires.
	Timeout time.Duration
	// Retention: a terminal process is forgotten Retention after it ended.
	Retention time.Duration
	// MaxHistory bounds the domain events a process holds; the one decision
	// entry that ends the process may come on top.
	MaxHistory int
}

// Validate reports a limit that cannot work.
func (l Limits) Validate() error {
	switch {
	case l.Timeout <= 0:
		return fmt.Errorf("match timeout %v must be positive", l.Timeout)
	case l.Retention <= 0:
		return fmt.Errorf("retention %v must be positive", l.Retention)
	case l.MaxHistory < 2:
		return fmt.Errorf("max history %d must be at least 2 (one event from each side)", l.MaxHistory)
	}
	return nil
}

// Manager applies events to processes by a Definition within Limits.
// It is safe for concurrent use: it holds no mutable state.
type Manager[S any] struct {
	def    Definition[S]
	limits Limits
}

// NewManager returns a Manager, or an error naming a bad limit.
func NewManager[S any](def Definition[S], limits Limits) (*Manager[S], error) {
	if def.Projection == nil || def.Decide == nil || def.Terminal == nil || def.Expire == nil {
		return nil, fmt.Errorf("state: definition needs Projection, Decide, Terminal and Expire")
	}
	if err := limits.Validate(); err != nil {
		return nil, err
	}
	return &Manager[S]{def: def, limits: limits}, nil
}

// Limits returns the manager's limits.
func (m *Manager[S]) Limits() Limits { return m.limits }

// Restore rebuilds a process from its stored history by folding it.
func (m *Manager[S]) Restore(history []Entry) *Process[S] {
	return &Process[S]{History: history, State: m.def.Projection.Fold(history)}
}

// Projection is the projection of the manager's definition: what a Store
// folds its processes with.
func (m *Manager[S]) Projection() *Projection[S] { return m.def.Projection }

// NewStore returns an empty store for this manager's processes.
func (m *Manager[S]) NewStore() *Store[S] { return NewStore(m.def.Projection) }

// Handles reports whether events of this type are the process's business.
func (m *Manager[S]) Handles(eventType string) bool {
	return m.def.Projection.Handles(eventType)
}

// Outcome is what Apply did: the result for the event and the decision
// entries recorded (an expiry found on the way, or the decision the event
// led to). Process is the process after the call; it is the same pointer as
// the input when nothing changed, and a new value otherwise (the input is
// never mutated).
type Outcome[S any] struct {
	Process   *Process[S]
	Result    Result
	Decisions []Entry
}

// Changed reports whether the process differs from the one passed in.
func (o Outcome[S]) Changed() bool { return o.Result == Applied || len(o.Decisions) > 0 }

// Apply applies ev to p (nil for a key with no live process) at processing
// time now. The rules, in order: an expiry that is due is recorded first;
// an event of a type without a handler is skipped; a duplicate id is
// skipped; a terminal process skips everything; a full history rejects;
// otherwise the event is appended and Decide may record a decision.
func (m *Manager[S]) Apply(p *Process[S], key string, ev Entry, now time.Time) Outcome[S] {
	if !m.def.Projection.Handles(ev.Type) {
		return Outcome[S]{Process: p, Result: SkippedOtherType}
	}
	out := Outcome[S]{Process: p}
	if p != nil {
		if adv := m.Advance(key, p, now); adv != nil {
			out.Process, out.Decisions = adv.Process, adv.Decisions
			p = adv.Process
		}
	}
	if p == nil {
		p = &Process[S]{State: m.def.Projection.init()}
	}
	switch {
	case hasID(p.History, ev.ID):
		out.Result = SkippedDuplicate
		return out
	case m.def.Terminal(p.State):
		out.Result = SkippedTerminal
		return out
	case len(p.History) >= m.limits.MaxHistory:
		out.Result = RejectedHistoryFull
		return out
	}
	ev.At = StampOf(now)
	next := m.append(p, ev)
	if d, ok := m.def.Decide(key, next.State, ev, now); ok {
		d.At = ev.At
		// next is new and no one else holds it: the decision goes into it
		// (append left room for one entry more).
		next.History = append(next.History, d)
		next.State = m.def.Projection.apply(next.State, d)
		out.Decisions = append(out.Decisions, d)
	}
	out.Process, out.Result = next, Applied
	return out
}

// Advance records the expiry decision when p is not terminal and its
// deadline has passed at now. It returns nil when nothing is due.
func (m *Manager[S]) Advance(key string, p *Process[S], now time.Time) *Outcome[S] {
	deadline, ok := m.Deadline(p)
	if !ok || now.Before(deadline) {
		return nil
	}
	d := m.def.Expire(key, p.State, now)
	d.At = StampOf(now)
	return &Outcome[S]{Process: m.append(p, d), Decisions: []Entry{d}}
}

// Terminal reports whether p has decided (confirmed or expired).
func (m *Manager[S]) Terminal(p *Process[S]) bool { return m.def.Terminal(p.State) }

// Deadline is when p expires if still not terminal; ok is false for a
// terminal or empty process.
func (m *Manager[S]) Deadline(p *Process[S]) (time.Time, bool) {
	if len(p.History) == 0 || m.def.Terminal(p.State) {
		return time.Time{}, false
	}
	return p.History[0].At.Time().Add(m.limits.Timeout), true
}

// Ended is when p became terminal (the time of its last entry, the
// decision); ok is false while p is not terminal.
func (m *Manager[S]) Ended(p *Process[S]) (time.Time, bool) {
	if len(p.History) == 0 || !m.def.Terminal(p.State) {
		return time.Time{}, false
	}
	return p.History[len(p.History)-1].At.Time(), true
}

// Due is when the clock next matters to a process with this history and
// state (its fold): its deadline while it is pending (ended false), the end
// of its retention once it is terminal (ended true). ok is false for an
// empty history. Deadline and Ended give the same times for a *Process;
// Due takes the parts, so that a restore asks it of histories it holds
// only for a moment.
func (m *Manager[S]) Due(history []Entry, s S) (at Stamp, ended, ok bool) {
	return m.DueTerminal(history, m.def.Terminal(s))
}

// DueTerminal is Due for a process whose terminal state is known without
// its fold (see processor.Definition.Summary).
func (m *Manager[S]) DueTerminal(history []Entry, terminal bool) (at Stamp, ended, ok bool) {
	if len(history) == 0 {
		return 0, false, false
	}
	if terminal {
		return history[len(history)-1].At.add(m.limits.Retention), true, true
	}
	return history[0].At.add(m.limits.Timeout), false, true
}

// Forget reports whether p is terminal and its retention has run out at now,
// so that its key can be tombstoned.
func (m *Manager[S]) Forget(p *Process[S], now time.Time) bool {
	ended, ok := m.Ended(p)
	return ok && !now.Before(ended.Add(m.limits.Retention))
}

// append returns a new process with e appended; p is left as it was. The
// new history has room for one entry more, the decision an applied event
// may lead to.
func (m *Manager[S]) append(p *Process[S], e Entry) *Process[S] {
	h := make([]Entry, len(p.History), len(p.History)+2)
	copy(h, p.History)
	return &Process[S]{History: append(h, e), State: m.def.Projection.apply(p.State, e)}
}

func hasID(history []Entry, id string) bool {
	for i := range history {
		if history[i].ID == id {
			return true
		}
	}
	return false
}
