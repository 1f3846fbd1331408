package state_test

import (
	"maps"
	"strings"
	"testing"
	"unsafe"

	"github.com/stretchr/testify/require"

	"github.com/catering-match/catering-match/state"
)

func proc(id string) *state.Process[state.Order] {
	return &state.Process[state.Order]{History: []state.Entry{cust(id, "a")}}
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
	p1 := proc("e1")
	s.Put("k", p1)
	require.Same(t, p1, s.Get("k"), "staged changes are visible to Get")
	require.True(t, s.HasStaged())
	require.Zero(t, s.Len(), "not committed yet")
	require.Empty(t, committed(s))
	require.Equal(t, map[string]*state.Process[state.Order]{"k": p1}, staged(s))

	p2 := proc("e2")
	s.Put("k", p2) // the last staged version wins
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
	p1, p2, q := proc("e1"), proc("e2"), proc("e3")
	s.Put("k", p1)
	s.Commit()

	s.Put("k", p2)
	s.Put("q", q)
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
	p1, p2 := proc("e1"), proc("e2")
	s.Put("k", p1)
	s.Commit()

	s.Delete("k")
	require.Nil(t, s.Get("k"), "a staged deletion hides the committed process")
	require.True(t, s.HasStaged())
	st := staged(s)
	require.Contains(t, st, "k")
	require.Nil(t, st["k"], "Staged yields nil for a deletion")
	require.Same(t, p1, committed(s)["k"], "All excludes staged changes")
	require.Equal(t, 1, s.Len())

	s.Put("k", p2) // re-created in the same transaction
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
	p1, p2 := proc("e1"), proc("e2")
	s.Load("k", p1)
	require.False(t, s.HasStaged(), "Load bypasses staging")
	require.Equal(t, 1, s.Len())
	require.Same(t, p1, s.Get("k"))
	s.Rollback()
	require.Same(t, p1, s.Get("k"), "rollback does not undo Load")

	s.Put("k", p2)
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
	s.Put(orderKey, out.Process)
	s.Commit()

	// A transaction that is aborted leaves the committed process untouched.
	committedP := s.Get(orderKey)
	snap := snapshot(committedP)
	out = m.Apply(s.Get(orderKey), orderKey, catOK("e2", "a"), t0)
	require.Len(t, out.Decisions, 1)
	s.Put(orderKey, out.Process)
	require.Equal(t, state.Confirmed, s.Get(orderKey).State.Status)
	s.Rollback()
	require.Same(t, committedP, s.Get(orderKey))
	require.Equal(t, snap, s.Get(orderKey))

	// Redone after the abort: same decision, same command id.
	out2 := m.Apply(s.Get(orderKey), orderKey, catOK("e2", "a"), t0)
	require.Equal(t, out.Decisions, out2.Decisions)
	s.Put(orderKey, out2.Process)
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
		s.Put(k, proc("e-"+k))
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

// TestStoreKeepsItsKey: a change to a committed process keeps the key the
// store has, whatever string equal to it the change comes with (a Go map
// assignment would replace it, and the processor's may be a view of a
// decoded record); Load, a restore's, keeps the key it is given.
func TestStoreKeepsItsKey(t *testing.T) {
	stored := func(s *state.Store[state.Order]) *byte {
		for k := range s.All() {
			return unsafe.StringData(k)
		}
		return nil
	}
	s := state.NewStore[state.Order]()
	first := strings.Clone("order-1")
	s.Put(first, proc("e1"))
	s.Commit()
	require.Same(t, unsafe.StringData(first), stored(s))

	p2 := proc("e2")
	s.Put(strings.Clone("order-1"), p2)
	_, committed := s.Shard(state.ShardOf("order-1")).Find("order-1")
	require.True(t, committed)
	s.Commit()
	require.Same(t, p2, s.Get("order-1"))
	require.Same(t, unsafe.StringData(first), stored(s), "the committed key stays")

	loaded := strings.Clone("order-1")
	s.Load(loaded, proc("e3"))
	require.Same(t, unsafe.StringData(loaded), stored(s), "Load keeps the key it is given")

	s.Delete("order-1")
	s.Commit()
	again := strings.Clone("order-1")
	p, committed := s.Shard(state.ShardOf("order-1")).Find("order-1")
	require.Nil(t, p)
	require.False(t, committed)
	s.Put(again, proc("e4"))
	s.Commit()
	require.Same(t, unsafe.StringData(again), stored(s), "a new process keeps the key it was put with")
}
