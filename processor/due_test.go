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
	want := map[string]time.Time{}
	for i := range 1000 {
		at := base.Add(time.Duration(r.IntN(3600)) * time.Second)
		key := string(rune('a'+i%26)) + time.Duration(i).String()
		q.add(at, key)
		want[key] = at
	}
	now := base.Add(30 * time.Minute)
	var got []time.Time
	q.popDue(now, func(e dueEntry) {
		key := e.key
		require.Equal(t, want[key], e.at)
		require.False(t, want[key].After(now), "%s popped before it was due", key)
		got = append(got, want[key])
		delete(want, key)
	})
	require.True(t, slices.IsSortedFunc(got, func(a, b time.Time) int { return a.Compare(b) }), "popped out of time order")
	for key, at := range want {
		require.True(t, at.After(now), "%s due at %v was not popped", key, at)
	}
	require.Equal(t, len(want), q.Len())
}
