package state_test

import (
	"maps"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/catering-match/catering-match/state"
)

func proc(key, id string) *state.Process[state.Order] {
	return &state.Process[state.Order]{Key: key, History: []state.Entry{cust(id, "a")}}
}

func staged(s *state.Store[state.Order]) map[string]*state.Process[state.Order] {
	return maps.Collect(s.Staged())
}

func committed(s *state.Store[state.Order]) map[string]*state.Process[state.Order] {
	return maps.Collect(s.All())
}

func TestStoreEmpty(t *testing.T) {
	s := state.NewStore[state.Order]()
	require.Nil(t, s.Get("k"))
	require.False(t, s.HasStaged())
	require.Zero(t, s.Len())
	require.Empty(t, committed(s))
	require.Empty(t, staged(s))
	s.Commit() // nothing staged: no-op
	s.Rollback()
	require.Zero(t, s.Len())
}

func TestStorePutCommit(t *testing.T) {
	s := state.NewStore[state.Order]()
	p1 := proc("k", "e1")
	s.Put(p1)
	require.Same(t, p1, s.Get("k"), "staged changes are visible to Get")
	require.True(t, s.HasStaged())
	require.Zero(t, s.Len(), "not committed yet")
	require.Empty(t, committed(s))
	require.Equal(t, map[string]*state.Process[state.Order]{"k": p1}, staged(s))

	p2 := proc("k", "e2")
	s.Put(p2) // the last staged version wins
	require.Same(t, p2, s.Get("k"))
	require.Len(t, staged(s), 1)

	s.Commit()
	require.False(t, s.HasStaged())
	require.Empty(t, staged(s))
	require.Equal(t, 1, s.Len())
	require.Same(t, p2, s.Get("k"))
	require.Same(t, p2, committed(s)["k"])
}

func TestStoreRollback(t *testing.T) {
	s := state.NewStore[state.Order]()
	p1, p2, q := proc("k", "e1"), proc("k", "e2"), proc("q", "e3")
	s.Put(p1)
	s.Commit()

	s.Put(p2)
	s.Put(q)
	require.Same(t, p2, s.Get("k"))
	s.Rollback()
	require.False(t, s.HasStaged())
	require.Same(t, p1, s.Get("k"), "rollback restores the committed version")
	require.Nil(t, s.Get("q"), "rollback drops a staged new key")
	require.Equal(t, 1, s.Len())

	s.Delete("k")
	require.Nil(t, s.Get("k"))
	s.Rollback()
	require.Same(t, p1, s.Get("k"), "rollback undoes a staged deletion")
}

func TestStoreDelete(t *testing.T) {
	s := state.NewStore[state.Order]()
	p1, p2 := proc("k", "e1"), proc("k", "e2")
	s.Put(p1)
	s.Commit()

	s.Delete("k")
	require.Nil(t, s.Get("k"), "a staged deletion hides the committed process")
	require.True(t, s.HasStaged())
	st := staged(s)
	require.Contains(t, st, "k")
	require.Nil(t, st["k"], "Staged yields nil for a deletion")
	require.Same(t, p1, committed(s)["k"], "All excludes staged changes")
	require.Equal(t, 1, s.Len())

	s.Put(p2) // re-created in the same transaction
	require.Same(t, p2, s.Get("k"))
	s.Delete("k")
	s.Commit()
	require.Nil(t, s.Get("k"))
	require.Zero(t, s.Len())
	require.Empty(t, committed(s))

	s.Delete("never-there")
	s.Commit()
	require.Zero(t, s.Len())
	require.Nil(t, s.Get("never-there"))
}

func TestStoreLoad(t *testing.T) {
	s := state.NewStore[state.Order]()
	p1, p2 := proc("k", "e1"), proc("k", "e2")
	s.Load("k", p1)
	require.False(t, s.HasStaged(), "Load bypasses staging")
	require.Equal(t, 1, s.Len())
	require.Same(t, p1, s.Get("k"))
	s.Rollback()
	require.Same(t, p1, s.Get("k"), "rollback does not undo Load")

	s.Put(p2)
	s.Load("k", p1)
	require.Same(t, p2, s.Get("k"), "a staged change still shadows a loaded process")
	s.Rollback()
	require.Same(t, p1, s.Get("k"))

	s.Load("k", nil)
	require.Nil(t, s.Get("k"))
	require.Zero(t, s.Len())
	s.Load("absent", nil) // removing an absent key is fine
	require.Zero(t, s.Len())
}

func TestStoreWithManager(t *testing.T) {
	m := newManager(t, testLimits())
	s := state.NewStore[state.Order]()

	out := m.Apply(s.Get(orderKey), orderKey, cust("e1", "a"), t0)
	s.Put(out.Process)
	s.Commit()

	// A transaction that is aborted leaves the committed process untouched.
	committedP := s.Get(orderKey)
	snap := snapshot(committedP)
	out = m.Apply(s.Get(orderKey), orderKey, catOK("e2", "a"), t0)
	require.Len(t, out.Decisions, 1)
	s.Put(out.Process)
	require.Equal(t, state.Confirmed, s.Get(orderKey).State.Status)
	s.Rollback()
	require.Same(t, committedP, s.Get(orderKey))
	require.Equal(t, snap, s.Get(orderKey))

	// Redone after the abort: same decision, same command id.
	out2 := m.Apply(s.Get(orderKey), orderKey, catOK("e2", "a"), t0)
	require.Equal(t, out.Decisions, out2.Decisions)
	s.Put(out2.Process)
	s.Commit()

	// Retention runs out: tombstone.
	now := t0.Add(testLimits().Retention)
	require.True(t, m.Forget(s.Get(orderKey), now))
	s.Delete(orderKey)
	s.Commit()
	require.Nil(t, s.Get(orderKey))
}

// TestStoreShards: every key lives in the shard ShardOf names, and the
// store's view is the union of its shards'.
func TestStoreShards(t *testing.T) {
	s := state.NewStore[state.Order]()
	keys := []string{"a", "b", "c", "order-1", "order-2", "42", "", "ü"}
	for _, k := range keys {
		s.Put(proc(k, "e-"+k))
	}
	s.Commit()
	require.Equal(t, len(keys), s.Len())
	n := 0
	for i := range state.Shards {
		sh := s.Shard(i)
		for k := range sh.Staged() {
			t.Fatalf("staged %q after commit", k)
		}
		for _, k := range keys {
			if state.ShardOf(k) == i {
				require.NotNil(t, sh.Get(k), "key %q in shard %d", k, i)
				n++
			} else {
				require.Nil(t, sh.Get(k), "key %q not in shard %d", k, i)
			}
		}
	}
	require.Equal(t, len(keys), n)
	// A shard's changes are the store's.
	sh := s.Shard(state.ShardOf("a"))
	sh.Delete("a")
	require.True(t, s.HasStaged())
	require.Nil(t, s.Get("a"))
	s.Rollback()
	require.NotNil(t, s.Get("a"))
}
