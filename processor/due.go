package processor

import (
	"container/heap"
	"time"

	"github.com/catering-match/catering-match/state"
)

// dueQueue orders one partition's processes by when the clock next matters
// to them: a pending process at its deadline, a terminal one when its
// retention ends. The tick pops only what is due, so its cost follows the
// number of expiring processes, not the number of live ones (a scan of
// every process held the loop for tens of milliseconds per tick at 200k
// processes).
//
// Entries are not removed when a process changes: a popped entry is checked
// against the process as it is now, and a new entry is pushed whenever a
// process's next due time changes (created, or become terminal).
type dueQueue []dueEntry

type dueEntry struct {
	at  time.Time
	key string
}

func (q dueQueue) Len() int           { return len(q) }
func (q dueQueue) Less(i, j int) bool { return q[i].at.Before(q[j].at) }
func (q dueQueue) Swap(i, j int)      { q[i], q[j] = q[j], q[i] }
func (q *dueQueue) Push(x any)        { *q = append(*q, x.(dueEntry)) }
func (q *dueQueue) Pop() any {
	old := *q
	e := old[len(old)-1]
	*q = old[:len(old)-1]
	return e
}

func (q *dueQueue) add(at time.Time, key string) { heap.Push(q, dueEntry{at: at, key: key}) }

// popDue removes and returns the entries due at now. A transaction that
// carried their work and aborted puts them back (see Processor.rollback).
func (q *dueQueue) popDue(now time.Time, yield func(e dueEntry)) {
	for q.Len() > 0 && !(*q)[0].at.After(now) {
		yield(heap.Pop(q).(dueEntry))
	}
}

// dueBy reports whether an entry is due at now.
func (q *dueQueue) dueBy(now time.Time) bool { return q.Len() > 0 && !(*q)[0].at.After(now) }

// nextDue is when the clock next matters to proc: its deadline while
// pending, the end of its retention once terminal.
func nextDue[S any](m *state.Manager[S], retention time.Duration, proc *state.Process[S]) (time.Time, bool) {
	if d, ok := m.Deadline(proc); ok {
		return d, true
	}
	if e, ok := m.Ended(proc); ok {
		return e.Add(retention), true
	}
	return time.Time{}, false
}

// queueFor builds the due queue of a restored store.
func queueFor[S any](m *state.Manager[S], retention time.Duration, s *state.Store[S]) *dueQueue {
	q := make(dueQueue, 0, s.Len())
	for key, proc := range s.All() {
		if at, ok := nextDue(m, retention, proc); ok {
			q = append(q, dueEntry{at: at, key: key})
		}
	}
	heap.Init(&q)
	return &q
}
