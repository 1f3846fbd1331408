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
// Deadlines and retention ends are kept in two heaps. Since every deadline
// is the first event's time plus the same timeout, the top of the deadline
// heap is also the oldest pending process, which the metrics read without
// visiting the others.
//
// Entries are not removed when a process changes: a popped entry is checked
// against the process as it is now, and a new entry is pushed whenever a
// process's next due time changes (created, or become terminal).
type dueQueue struct {
	deadlines dueHeap // pending processes, by deadline
	ends      dueHeap // terminal processes, by the end of their retention
}

type dueEntry struct {
	at    int64 // Unix nanoseconds: 8 bytes instead of a time.Time's 24
	key   string
	ended bool // a retention end (in ends), not a deadline
}

func (e dueEntry) time() time.Time { return time.Unix(0, e.at).UTC() }

func entryAt(at time.Time, key string, ended bool) dueEntry {
	return dueEntry{at: at.UnixNano(), key: key, ended: ended}
}

type dueHeap []dueEntry

func (h dueHeap) Len() int           { return len(h) }
func (h dueHeap) Less(i, j int) bool { return h[i].at < h[j].at }
func (h dueHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *dueHeap) Push(x any)        { *h = append(*h, x.(dueEntry)) }
func (h *dueHeap) Pop() any {
	old := *h
	e := old[len(old)-1]
	*h = old[:len(old)-1]
	return e
}

func (h dueHeap) dueBy(now int64) bool { return len(h) > 0 && h[0].at <= now }

func (q *dueQueue) heapOf(e dueEntry) *dueHeap {
	if e.ended {
		return &q.ends
	}
	return &q.deadlines
}

func (q *dueQueue) add(e dueEntry) { heap.Push(q.heapOf(e), e) }

// Len is the number of entries, stale ones included.
func (q *dueQueue) Len() int { return len(q.deadlines) + len(q.ends) }

// popDue removes and yields the entries due at now, in time order. A
// transaction that carried their work and aborted puts them back (see
// Processor.rollback).
func (q *dueQueue) popDue(now time.Time, yield func(e dueEntry)) {
	n := now.UnixNano()
	for {
		d, e := q.deadlines.dueBy(n), q.ends.dueBy(n)
		switch {
		case d && (!e || q.deadlines[0].at <= q.ends[0].at):
			yield(heap.Pop(&q.deadlines).(dueEntry))
		case e:
			yield(heap.Pop(&q.ends).(dueEntry))
		default:
			return
		}
	}
}

// dueBy reports whether an entry is due at now.
func (q *dueQueue) dueBy(now time.Time) bool {
	n := now.UnixNano()
	return q.deadlines.dueBy(n) || q.ends.dueBy(n)
}

// oldestPending returns the deadline entry of the pending process with the
// earliest deadline. Stale entries at the top of the deadline heap (their
// process is gone or no longer pending: current says so) are discarded on
// the way, as the tick would discard them when they come due.
func (q *dueQueue) oldestPending(current func(dueEntry) bool) (dueEntry, bool) {
	for len(q.deadlines) > 0 {
		if top := q.deadlines[0]; current(top) {
			return top, true
		}
		heap.Pop(&q.deadlines)
	}
	return dueEntry{}, false
}

// nextDue is when the clock next matters to proc: its deadline while
// pending, the end of its retention once terminal.
func nextDue[S any](m *state.Manager[S], retention time.Duration, key string, proc *state.Process[S]) (dueEntry, bool) {
	if d, ok := m.Deadline(proc); ok {
		return entryAt(d, key, false), true
	}
	if e, ok := m.Ended(proc); ok {
		return entryAt(e.Add(retention), key, true), true
	}
	return dueEntry{}, false
}

// oldestPending is the time of the first event of the partition's oldest
// pending process, from the top of its deadline heap.
func (p *Processor[S]) oldestPending(part *partition[S]) (time.Time, bool) {
	e, ok := part.due.oldestPending(func(e dueEntry) bool {
		proc := part.store.Committed(e.key)
		if proc == nil {
			return false
		}
		d, ok := p.manager.Deadline(proc)
		return ok && d.UnixNano() == e.at
	})
	if !ok {
		return time.Time{}, false
	}
	return part.store.Committed(e.key).History[0].At.Time(), true
}
