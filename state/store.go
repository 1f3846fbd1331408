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
// Committed processes are kept packed: their histories as bytes in
// pointer-free chunks (see packed), folded again by the projection when
// they are read. A read returns the same *Process until the next Commit or
// Rollback; a process read after that is a new decode of the same history.
// Processes are immutable either way.
//
// A Store is not safe for concurrent use, except that different shards
// (see Shard) may be used by different goroutines at once.
type Store[S any] struct {
	shards [Shards]Shard[S]
}

// Shard is the part of a Store that holds the keys of one ShardOf value.
// It has the Store's methods, for those keys only.
type Shard[S any] struct {
	projection *Projection[S]
	packed     packed
	staged     map[string]*Process[S] // nil value: staged deletion
	read       map[string]*Process[S] // committed processes decoded since the last Commit or Rollback
}

// NewStore returns an empty store whose processes fold with projection.
func NewStore[S any](projection *Projection[S]) *Store[S] { return NewStoreSized(projection, 0) }

// NewStoreSized returns an empty store with room for about n processes: a
// restore that knows how many records it will read spares the index's
// growth.
func NewStoreSized[S any](projection *Projection[S], n int) *Store[S] {
	s := &Store[S]{}
	for i := range s.shards {
		s.shards[i] = Shard[S]{projection: projection, packed: newPacked(n / Shards),
			staged: map[string]*Process[S]{}, read: map[string]*Process[S]{}}
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

// Put stages p as the process for key. The store keeps key until the next
// Commit or Rollback, and a copy of it after a Commit: key may be a view of
// a larger buffer that outlives the transaction.
func (s *Store[S]) Put(key string, p *Process[S]) { s.shard(key).Put(key, p) }

// Delete stages the removal of key.
func (s *Store[S]) Delete(key string) { s.shard(key).Delete(key) }

// Load sets a committed process directly, bypassing staging: for restore.
// A nil process removes the key. It returns the committed process it
// replaced, or nil.
func (s *Store[S]) Load(key string, p *Process[S]) (replaced *Process[S]) {
	return s.shard(key).Load(key, p)
}

// Staged yields each staged change: the process, or nil for a deletion.
// A staged key is the string given to Put, which may be a view of a larger
// buffer (see Put): copy it to keep it.
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
		n += s.shards[i].packed.Len()
	}
	return n
}

// PackedBytes is the memory the committed histories take, dead bytes a
// compaction has not yet reclaimed included.
func (s *Store[S]) PackedBytes() int {
	n := 0
	for i := range s.shards {
		n += s.shards[i].packed.bytes()
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

// Find is Get, and also reports whether key is committed.
func (s *Shard[S]) Find(key string) (p *Process[S], committed bool) {
	if p, ok := s.staged[key]; ok {
		if _, ok := s.read[key]; ok {
			return p, true
		}
		_, committed = s.packed.find(key)
		return p, committed
	}
	p = s.Committed(key)
	return p, p != nil
}

// Committed returns the committed process for key, ignoring staged changes.
func (s *Shard[S]) Committed(key string) *Process[S] {
	if p, ok := s.read[key]; ok {
		return p
	}
	r, ok := s.packed.find(key)
	if !ok {
		return nil
	}
	p := s.decode(r)
	s.read[key] = p
	return p
}

func (s *Shard[S]) decode(r ref) *Process[S] {
	h := s.packed.history(r)
	return &Process[S]{History: h, State: s.projection.Fold(h)}
}

// Put stages p as the process for key (see Store.Put).
func (s *Shard[S]) Put(key string, p *Process[S]) { s.staged[key] = p }

// Delete stages the removal of key.
func (s *Shard[S]) Delete(key string) { s.staged[key] = nil }

// Load sets a committed process directly; nil removes the key. Only its
// history is kept: a read folds it again. It returns the committed process
// it replaced, or nil (a restore counts it out of its tally).
func (s *Shard[S]) Load(key string, p *Process[S]) (replaced *Process[S]) {
	delete(s.read, key)
	r, had := s.packed.find(key)
	if had {
		replaced = s.decode(r)
	}
	if p == nil {
		s.packed.delete(key)
	} else {
		s.packed.replace(key, p.History, r, had)
	}
	return replaced
}

// Staged yields each staged change of the shard (see Store.Staged).
func (s *Shard[S]) Staged() iter.Seq2[string, *Process[S]] { return maps.All(s.staged) }

// All yields the shard's committed processes, each decoded (a process read
// since the last Commit or Rollback is yielded as it was read). The keys
// are the shard's own copies.
func (s *Shard[S]) All() iter.Seq2[string, *Process[S]] {
	return func(yield func(string, *Process[S]) bool) {
		for k, r := range s.packed.all() {
			key := string(k)
			p, ok := s.read[key]
			if !ok {
				p = s.decode(r)
			}
			if !yield(key, p) {
				return
			}
		}
	}
}

// HasStaged reports whether anything is staged in the shard.
func (s *Shard[S]) HasStaged() bool { return len(s.staged) > 0 }

// StagedLen is the number of keys with a staged change in the shard.
func (s *Shard[S]) StagedLen() int { return len(s.staged) }

// Commit makes the shard's staged changes its committed state, then lets
// the packed histories reclaim a little of their dead space.
func (s *Shard[S]) Commit() {
	for k, p := range s.staged {
		if p == nil {
			s.packed.delete(k)
		} else {
			s.packed.put(k, p.History)
		}
	}
	clear(s.staged)
	clear(s.read)
	s.packed.compact()
}

// Rollback discards the shard's staged changes.
func (s *Shard[S]) Rollback() {
	clear(s.staged)
	clear(s.read)
}
