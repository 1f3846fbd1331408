package processor

import (
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestDueQueuePopsOnlyDueInTimeOrder(t *testing.T) {
	base := time.Date(2026, 11, 25, 0, 0, 0, 0, time.UTC)
	q := &dueQueue{}
	r := rand.New(rand.NewPCG(1, 2))
	want := map[string]dueEntry{}
	for i := range 1000 {
		at := base.Add(time.Duration(r.IntN(3600)) * time.Second)
		key := string(rune('a'+i%26)) + time.Duration(i).String()
		e := entryAt(at, key, i%3 == 0) // deadlines and retention ends mixed
		q.add(e)
		want[key] = e
	}
	now := base.Add(30 * time.Minute)
	var got []time.Time
	q.popDue(now, func(e dueEntry) {
		require.Equal(t, want[e.key], e)
		require.False(t, e.time().After(now), "%s popped before it was due", e.key)
		got = append(got, e.time())
		delete(want, e.key)
	})
	require.True(t, slices.IsSortedFunc(got, func(a, b time.Time) int { return a.Compare(b) }), "popped out of time order across the two heaps")
	for key, e := range want {
		require.True(t, e.time().After(now), "%s due at %v was not popped", key, e.time())
	}
	require.Equal(t, len(want), q.Len())
	require.False(t, q.dueBy(now))
	require.True(t, q.dueBy(base.Add(time.Hour)))
}

func TestDueQueueOldestPending(t *testing.T) {
	base := time.Date(2026, 11, 25, 0, 0, 0, 0, time.UTC)
	q := &dueQueue{}
	// A retention end earlier than every deadline is not a pending process.
	q.add(entryAt(base, "ended", true))
	for i, key := range []string{"a", "b", "c", "d"} {
		q.add(entryAt(base.Add(time.Duration(i+1)*time.Hour), key, false))
	}
	pending := map[string]bool{"b": true, "c": true, "d": true} // a is decided since: its entry is stale
	current := func(e dueEntry) bool { return pending[e.key] }

	e, ok := q.oldestPending(current)
	require.True(t, ok)
	require.Equal(t, "b", e.key)
	require.Equal(t, base.Add(2*time.Hour), e.time())
	require.Equal(t, 4, q.Len(), "the stale entry of a is dropped, the others stay")

	pending = map[string]bool{}
	_, ok = q.oldestPending(current)
	require.False(t, ok)
	require.Equal(t, 1, q.Len(), "only the retention end is left")
	var popped []string
	q.popDue(base, func(e dueEntry) { popped = append(popped, e.key) })
	require.Equal(t, []string{"ended"}, popped)
}
