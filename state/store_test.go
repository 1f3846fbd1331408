package state_test

import (
	"maps"
	"testing"
	"unsafe"

	"github.com/stretchr/testify/require"

	"github.com/catering-match/catering-match/state"
)

// proc is a process as the store gives it back: its state is the fold of
// its history (the store keeps only the history of a committed process).
func proc(id string) *state.Process[state.Order] {
	h := []state.Entry{cust(id, "a")}
	return &state.Process[state.Order]{History: h, State: state.Catering().Projection.Fold(h)}
}

func staged(s *state.Store[state.Order]) map[string]*state.Process[state.Order] {
	return maps.Collect(s.Staged())
}

func committed(s *state.Store[state.Order]) map[string]*state.Process[state.Order] {
	return maps.Collect(s.All())
}

func TestStoreEmpty(t *testing.T) {
	s := state.NewStore(state.Catering().Projection)
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
	s := state.NewStore(state.Catering().Projection)
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
	require.Equal(t, p2, s.Get("k"), "a committed process reads back equal, decoded")
	require.Equal(t, p2, committed(s)["k"])
	require.Same(t, s.Get("k"), s.Get("k"), "the same decode until the next Commit or Rollback")
}

func TestStoreRollback(t *testing.T) {
	s := state.NewStore(state.Catering().Projection)
	p1, p2, q := proc("e1"), proc("e2"), proc("e3")
	s.Put("k", p1)
	s.Commit()

	s.Put("k", p2)
	s.Put("q", q)
	require.Same(t, p2, s.Get("k"))
	s.Rollback()
	require.False(t, s.HasStaged())
	require.Equal(t, p1, s.Get("k"), "rollback restores the committed version")
	require.Nil(t, s.Get("q"), "rollback drops a staged new key")
	require.Equal(t, 1, s.Len())

	s.Delete("k")
	require.Nil(t, s.Get("k"))
	s.Rollback()
	require.Equal(t, p1, s.Get("k"), "rollback undoes a staged deletion")
}

func TestStoreDelete(t *testing.T) {
	s := state.NewStore(state.Catering().Projection)
	p1, p2 := proc("e1"), proc("e2")
	s.Put("k", p1)
	s.Commit()

	s.Delete("k")
	require.Nil(t, s.Get("k"), "a staged deletion hides the committed process")
	require.True(t, s.HasStaged())
	st := staged(s)
	require.Contains(t, st, "k")
	require.Nil(t, st["k"], "Staged yields nil for a deletion")
	require.Equal(t, p1, committed(s)["k"], "All excludes staged changes")
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
	s := state.NewStore(state.Catering().Projection)
	p1, p2 := proc("e1"), proc("e2")
	s.Load("k", p1.History)
	require.False(t, s.HasStaged(), "Load bypasses staging")
	require.Equal(t, 1, s.Len())
	require.Equal(t, p1, s.Get("k"))
	s.Rollback()
	require.Equal(t, p1, s.Get("k"), "rollback does not undo Load")

	s.Put("k", p2)
	s.Load("k", p1.History)
	require.Same(t, p2, s.Get("k"), "a staged change still shadows a loaded process")
	s.Rollback()
	require.Equal(t, p1, s.Get("k"))

	s.Unload("k")
	require.Nil(t, s.Get("k"))
	require.Zero(t, s.Len())
	s.Unload("absent") // removing an absent key is fine
	require.Zero(t, s.Len())
}

func TestStoreWithManager(t *testing.T) {
	m := newManager(t, testLimits())
	s := state.NewStore(state.Catering().Projection)

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
	s := state.NewStore(state.Catering().Projection)
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

// TestStoreCopiesKeys: the store keeps no string it was given past a
// Commit, so a key that is a view of a buffer the caller reuses (the
// processor's keys are views of decoded records) is safe to Put and Load.
func TestStoreCopiesKeys(t *testing.T) {
	buf := []byte("order-1")
	view := unsafe.String(&buf[0], len(buf))
	s := state.NewStore(state.Catering().Projection)
	s.Put(view, proc("e1"))
	s.Commit()
	copy(buf, "XXXXXXX") // the caller reuses its buffer
	require.NotNil(t, s.Get("order-1"), "the store copied the key at the commit")
	require.Nil(t, s.Get("XXXXXXX"))
	for k := range s.All() {
		require.Equal(t, "order-1", k)
		require.NotSame(t, &buf[0], unsafe.StringData(k))
	}

	buf = []byte("order-2")
	idBuf := []byte("e2")
	h := proc("e2").History
	h[0].ID = unsafe.String(&idBuf[0], len(idBuf))
	s.Load(unsafe.String(&buf[0], len(buf)), h)
	copy(buf, "YYYYYYY")
	copy(idBuf, "ZZ")
	require.Equal(t, proc("e2"), s.Get("order-2"), "Load copies the key and the history's strings")
	require.Equal(t, 2, s.Len())
}
