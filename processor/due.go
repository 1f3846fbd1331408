package processor

import (
	"time"
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
// An entry names its process by the hash of its key (state.KeyHash), not
// by the key: 16 bytes and no pointer, so a million timers are one slice
// the garbage collector does not scan, and a restore keeps no copy of any
// key. The store finds the keys of a hash (Store.KeysByHash); the rare
// other key of the same hash is checked like any other (see below).
//
// Entries are not removed when a process changes: a popped entry is checked
// against the process as it is now, and a new entry is pushed whenever a
// process's next due time changes (created, or become terminal).
type dueQueue struct {
	deadlines dueHeap // pending processes, by deadline
	ends      dueHeap // terminal processes, by the end of their retention
}

type dueEntry struct {
	at   int64  // Unix nanoseconds
	hash uint64 // state.KeyHash of the process's key
}

func (e dueEntry) time() time.Time { return time.Unix(0, e.at).UTC() }

// dueHeap is a min-heap by at. Its own sift functions, not container/heap,
// whose interface takes each entry as an `any`, an allocation per push.
type dueHeap []dueEntry

func (h dueHeap) dueBy(now int64) bool { return len(h) > 0 && h[0].at <= now }

func (h *dueHeap) push(e dueEntry) {
	*h = append(*h, e)
	h.up(len(*h) - 1)
}

func (h *dueHeap) pop() dueEntry {
	old := *h
	top := old[0]
	n := len(old) - 1
	old[0] = old[n]
	*h = old[:n]
	h.down(0)
	return top
}

// init makes a heap of entries appended in any order.
func (h dueHeap) init() {
	for i := len(h)/2 - 1; i >= 0; i-- {
		h.down(i)
	}
}

func (h dueHeap) up(i int) {
	for i > 0 {
		parent := (i - 1) / 2
		if h[parent].at <= h[i].at {
			return
		}
		h[parent], h[i] = h[i], h[parent]
		i = parent
	}
}

func (h dueHeap) down(i int) {
	for {
		least, l := i, 2*i+1
		if l < len(h) && h[l].at < h[least].at {
			least = l
		}
		if r := l + 1; r < len(h) && h[r].at < h[least].at {
			least = r
		}
		if least == i {
			return
		}
		h[i], h[least] = h[least], h[i]
		i = least
	}
}

func (q *dueQueue) heapOf(ended bool) *dueHeap {
	if ended {
		return &q.ends
	}
	return &q.deadlines
}

func (q *dueQueue) add(e dueEntry, ended bool) { q.heapOf(ended).push(e) }

// Len is the number of entries, stale ones included.
func (q *dueQueue) Len() int { return len(q.deadlines) + len(q.ends) }

// popDue removes and yields the entries due at now, in time order, each
// with the heap it came from. A transaction that carried their work and
// aborted puts them back (see Processor.rollback).
func (q *dueQueue) popDue(now time.Time, yield func(e dueEntry, ended bool)) {
	n := now.UnixNano()
	for {
		d, e := q.deadlines.dueBy(n), q.ends.dueBy(n)
		switch {
		case d && (!e || q.deadlines[0].at <= q.ends[0].at):
			yield(q.deadlines.pop(), false)
		case e:
			yield(q.ends.pop(), true)
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
		q.deadlines.pop()
	}
	return dueEntry{}, false
}

// oldestPending is the time of the first event of the partition's oldest
// pending process, from the top of its deadline heap.
func (p *Processor[S]) oldestPending(part *partition[S]) (time.Time, bool) {
	var first time.Time
	_, ok := part.due.oldestPending(func(e dueEntry) bool {
		for key := range part.store.KeysByHash(e.hash) {
			proc := part.store.Committed(key)
			if at, ended, ok := p.manager.Due(proc.History, proc.State); ok && !ended && int64(at) == e.at {
				first = proc.History[0].At.Time()
				return true
			}
		}
		return false
	})
	return first, ok
}

// tally counts processes by status. A definition has a handful of
// statuses, usually constants: a short list searched in order costs less
// than hashing the name into a map at every count, which a restore does
// for every record.
type tally []statusCount

type statusCount struct {
	status string
	n      int
}

func (t *tally) add(status string, n int) {
	for i := range *t {
		if (*t)[i].status == status {
			(*t)[i].n += n
			return
		}
	}
	*t = append(*t, statusCount{status, n})
}
