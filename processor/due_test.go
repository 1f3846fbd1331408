package processor

import (
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// entryAt is the due entry of a process with key hash h at at.
func entryAt(at time.Time, h uint64) dueEntry { return dueEntry{at: at.UnixNano(), hash: h} }

type queued struct {
	e     dueEntry
	ended bool
}

func TestDueQueuePopsOnlyDueInTimeOrder(t *testing.T) {
	base := time.Date(2026, 11, 25, 0, 0, 0, 0, time.UTC)
	q := &dueQueue{}
	r := rand.New(rand.NewPCG(1, 2))
	want := map[uint64]queued{}
	for i := range 1000 {
		at := base.Add(time.Duration(r.IntN(3600)) * time.Second)
		e := entryAt(at, uint64(i))
		ended := i%3 == 0 // deadlines and retention ends mixed
		q.add(e, ended)
		want[e.hash] = queued{e, ended}
	}
	now := base.Add(30 * time.Minute)
	var got []time.Time
	q.popDue(now, func(e dueEntry, ended bool) {
		require.Equal(t, want[e.hash], queued{e, ended}, "popped from the heap it went into")
		require.False(t, e.time().After(now), "%d popped before it was due", e.hash)
		got = append(got, e.time())
		delete(want, e.hash)
	})
	require.True(t, slices.IsSortedFunc(got, func(a, b time.Time) int { return a.Compare(b) }), "popped out of time order across the two heaps")
	for h, e := range want {
		require.True(t, e.e.time().After(now), "%d due at %v was not popped", h, e.e.time())
	}
	require.Equal(t, len(want), q.Len())
	require.False(t, q.dueBy(now))
	require.True(t, q.dueBy(base.Add(time.Hour)))
}

// TestDueHeapInit: entries appended in any order and then init'ed pop in
// time order, as pushed ones do.
func TestDueHeapInit(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for _, n := range []int{0, 1, 2, 3, 7, 100, 1000} {
		var h dueHeap
		for i := range n {
			h = append(h, dueEntry{at: r.Int64N(50), hash: uint64(i)})
		}
		h.init()
		var ats []int64
		for len(h) > 0 {
			ats = append(ats, h.pop().at)
		}
		require.Len(t, ats, n)
		require.True(t, slices.IsSorted(ats), "n=%d: %v", n, ats)
	}
}

func TestDueQueueOldestPending(t *testing.T) {
	base := time.Date(2026, 11, 25, 0, 0, 0, 0, time.UTC)
	q := &dueQueue{}
	// A retention end earlier than every deadline is not a pending process.
	const ended, a, b, c, d = 100, 1, 2, 3, 4
	q.add(entryAt(base, ended), true)
	for i, h := range []uint64{a, b, c, d} {
		q.add(entryAt(base.Add(time.Duration(i+1)*time.Hour), h), false)
	}
	pending := map[uint64]bool{b: true, c: true, d: true} // a is decided since: its entry is stale
	current := func(e dueEntry) bool { return pending[e.hash] }

	e, ok := q.oldestPending(current)
	require.True(t, ok)
	require.EqualValues(t, b, e.hash)
	require.Equal(t, base.Add(2*time.Hour), e.time())
	require.Equal(t, 4, q.Len(), "the stale entry of a is dropped, the others stay")

	pending = map[uint64]bool{}
	_, ok = q.oldestPending(current)
	require.False(t, ok)
	require.Equal(t, 1, q.Len(), "only the retention end is left")
	var popped []uint64
	q.popDue(base, func(e dueEntry, wasEnded bool) {
		require.True(t, wasEnded)
		popped = append(popped, e.hash)
	})
	require.Equal(t, []uint64{ended}, popped)
}
