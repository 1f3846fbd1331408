package state

import (
	"hash/maphash"
	"iter"
	"maps"
)

// Shards is the number of shards a Store splits its keys into. Keys are
// independent, so the engine may work on different shards of one
// partition at once; within a shard, one goroutine at a time.
const Shards = 8

var shardSeed = maphash.MakeSeed()

// ShardOf is the shard of key, in [0, Shards). It is stable within a
// process run only: shards are an in-memory layout, never stored.
func ShardOf(key string) int { return int(maphash.String(shardSeed, key) % Shards) }

// ShardOfBytes is ShardOf(string(key)), without the copy.
func ShardOfBytes(key []byte) int { return int(maphash.Bytes(shardSeed, key) % Shards) }

// Store holds the live processes of one partition. Changes are staged and
// become visible to Get only as staged, until Commit makes them the
// committed state or Rollback discards them: this mirrors the Kafka
// transaction that carries them.
//
// A Store is not safe for concurrent use, except that different shards
// (see Shard) may be used by different goroutines at once.
type Store[S any] struct {
	shards [Shards]Shard[S]
}

// Shard is the part of a Store that holds the keys of one ShardOf value.
// It has the Store's methods, for those keys only.
type Shard[S any] struct {
	committed map[string]*slot[S]
	staged    map[string]*Process[S] // nil value: staged deletion
}

// slot holds one committed process. A commit that changes a process changes
// its slot, not the map: assigning to a string key that is already in a Go
// map also replaces the stored key with the one given, and the key a change
// comes with may be a view of a record's decoded buffer, which the store
// must not keep alive. The key stored is the one the process was first
// committed with (see Put).
type slot[S any] struct{ p *Process[S] }

// NewStore returns an empty store.
func NewStore[S any]() *Store[S] { return NewStoreSized[S](0) }

// NewStoreSized returns an empty store with room for about n processes: a
// restore that knows how many records it will read spares the maps'
// growth (each growth rehashes every key).
func NewStoreSized[S any](n int) *Store[S] {
	s := &Store[S]{}
	for i := range s.shards {
		s.shards[i] = Shard[S]{committed: make(map[string]*slot[S], n/Shards), staged: map[string]*Process[S]{}}
	}
	return s
}

// Shard returns shard i (0 <= i < Shards).
func (s *Store[S]) Shard(i int) *Shard[S] { return &s.shards[i] }

func (s *Store[S]) shard(key string) *Shard[S] { return &s.shards[ShardOf(key)] }

// Get returns the process for key, staged changes included, or nil.
func (s *Store[S]) Get(key string) *Process[S] { return s.shard(key).Get(key) }

// Committed returns the committed process for key, ignoring staged changes.
func (s *Store[S]) Committed(key string) *Process[S] { return s.shard(key).Committed(key) }

// Put stages p as the process for key. When key is not committed yet (see
// Shard.Find) the store keeps key itself as the map key: it must then be a
// string of its own, not a view of a larger buffer.
func (s *Store[S]) Put(key string, p *Process[S]) { s.shard(key).Put(key, p) }

// Delete stages the removal of key.
func (s *Store[S]) Delete(key string) { s.shard(key).Delete(key) }

// Load sets a committed process directly, bypassing staging: for restore.
// A nil process removes the key.
func (s *Store[S]) Load(key string, p *Process[S]) { s.shard(key).Load(key, p) }

// Staged yields each staged change: the process, or nil for a deletion.
// A staged key is the string given to Put, which for a committed key may
// be a view of a larger buffer (see Put): copy it to keep it.
func (s *Store[S]) Staged() iter.Seq2[string, *Process[S]] { return s.each((*Shard[S]).Staged) }

// each yields what seq yields for every shard, shard after shard.
func (s *Store[S]) each(seq func(*Shard[S]) iter.Seq2[string, *Process[S]]) iter.Seq2[string, *Process[S]] {
	return func(yield func(string, *Process[S]) bool) {
		for i := range s.shards {
			for k, p := range seq(&s.shards[i]) {
				if !yield(k, p) {
					return
				}
			}
		}
	}
}

// HasStaged reports whether anything is staged.
func (s *Store[S]) HasStaged() bool {
	for i := range s.shards {
		if s.shards[i].HasStaged() {
			return true
		}
	}
	return false
}

// Commit makes the staged changes the committed state.
func (s *Store[S]) Commit() {
	for i := range s.shards {
		s.shards[i].Commit()
	}
}

// Rollback discards the staged changes.
func (s *Store[S]) Rollback() {
	for i := range s.shards {
		s.shards[i].Rollback()
	}
}

// All yields the committed processes (staged changes excluded).
func (s *Store[S]) All() iter.Seq2[string, *Process[S]] { return s.each((*Shard[S]).All) }

// Len is the number of committed processes.
func (s *Store[S]) Len() int {
	n := 0
	for i := range s.shards {
		n += len(s.shards[i].committed)
	}
	return n
}

// Get returns the process for key, staged changes included, or nil.
func (s *Shard[S]) Get(key string) *Process[S] {
	if p, ok := s.staged[key]; ok {
		return p
	}
	return s.Committed(key)
}

// Find is Get, and also reports whether key is committed, in which case
// the store keeps the key it has and a Put for key may pass any string
// equal to it. Otherwise the key given to Put is the one kept.
func (s *Shard[S]) Find(key string) (p *Process[S], committed bool) {
	c := s.committed[key]
	if p, ok := s.staged[key]; ok {
		return p, c != nil
	}
	if c == nil {
		return nil, false
	}
	return c.p, true
}

// Committed returns the committed process for key, ignoring staged changes.
func (s *Shard[S]) Committed(key string) *Process[S] {
	if c := s.committed[key]; c != nil {
		return c.p
	}
	return nil
}

// Put stages p as the process for key (see Store.Put for which key is kept).
func (s *Shard[S]) Put(key string, p *Process[S]) { s.staged[key] = p }

// Delete stages the removal of key.
func (s *Shard[S]) Delete(key string) { s.staged[key] = nil }

// Load sets a committed process directly; nil removes the key.
// The key given is kept (a restore's newest record of a key brings the key
// its own history's strings share an allocation with; keeping the first
// record's key would keep that record's allocation too).
func (s *Shard[S]) Load(key string, p *Process[S]) {
	if p == nil {
		delete(s.committed, key)
		return
	}
	s.committed[key] = &slot[S]{p: p}
}

// Staged yields each staged change of the shard (see Store.Staged).
func (s *Shard[S]) Staged() iter.Seq2[string, *Process[S]] { return maps.All(s.staged) }

// All yields the shard's committed processes.
func (s *Shard[S]) All() iter.Seq2[string, *Process[S]] {
	return func(yield func(string, *Process[S]) bool) {
		for k, c := range s.committed {
			if !yield(k, c.p) {
				return
			}
		}
	}
}

// HasStaged reports whether anything is staged in the shard.
func (s *Shard[S]) HasStaged() bool { return len(s.staged) > 0 }

// StagedLen is the number of keys with a staged change in the shard.
func (s *Shard[S]) StagedLen() int { return len(s.staged) }

// Commit makes the shard's staged changes its committed state.
func (s *Shard[S]) Commit() {
	for k, p := range s.staged {
		switch c := s.committed[k]; {
		case p == nil:
			delete(s.committed, k)
		case c != nil:
			c.p = p // the stored key stays
		default:
			s.committed[k] = &slot[S]{p: p}
		}
	}
	clear(s.staged)
}

// Rollback discards the shard's staged changes.
func (s *Shard[S]) Rollback() { clear(s.staged) }
