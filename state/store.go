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

var keySeed = maphash.MakeSeed()

// KeyHash is the hash a Store files key under: its shard and its place in
// the shard's index both come from it. It is stable within a process run
// only (the seed is random), never stored. Different keys may share a hash
// (KeysByHash yields them all), so a hash stands for a key only where the
// key is checked again when it is used, as the due queue does.
func KeyHash(key string) uint64 { return maphash.String(keySeed, key) }

// KeyHashBytes is KeyHash(string(key)), without the copy.
func KeyHashBytes(key []byte) uint64 { return maphash.Bytes(keySeed, key) }

// ShardOf is the shard of key, in [0, Shards).
func ShardOf(key string) int { return shardOfHash(KeyHash(key)) }

// ShardOfBytes is ShardOf(string(key)), without the copy.
func ShardOfBytes(key []byte) int { return shardOfHash(KeyHashBytes(key)) }

// shardOfHash takes the shard from the hash's high bits, so that the
// index of a shard, which keys on the whole hash, sees them all alike.
func shardOfHash(h uint64) int { return int((h >> 32) % Shards) }

// Store holds the live processes of one partition. Changes are staged and
// become visible to Get only as staged, until Commit makes them the
// committed state or Rollback discards them: this mirrors the Kafka
// transaction that carries them.
//
// Committed processes are kept packed: their histories as bytes in
// pointer-free chunks (see packed), folded again by the projection when
// they are read. A read returns the same *Process until the next Commit or
// Rollback; a process read after that is a new decode of the same history.
// Processes are immutable either way. The strings of a history read from
// the store, like the keys it yields, are views of its bytes, which never
// change once written (holding one keeps its chunk in memory).
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

// NewStore returns an empty store whose processes fold with projection. A
// restore fills it with a Loader, which sizes each shard's index once.
func NewStore[S any](projection *Projection[S]) *Store[S] {
	s := &Store[S]{}
	for i := range s.shards {
		s.shards[i] = Shard[S]{projection: projection, packed: newPacked(),
			staged: map[string]*Process[S]{}, read: map[string]*Process[S]{}}
	}
	return s
}

// Shard returns shard i (0 <= i < Shards).
func (s *Store[S]) Shard(i int) *Shard[S] { return &s.shards[i] }

func (s *Store[S]) shard(key string) *Shard[S] { return &s.shards[ShardOf(key)] }

// KeysByHash yields the committed keys whose KeyHash is h: almost always
// one or none. A key is a view of the store's bytes, which never change
// once written; holding it keeps them in memory.
func (s *Store[S]) KeysByHash(h uint64) iter.Seq[string] {
	return s.shards[shardOfHash(h)].packed.keysByHash(h)
}

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

// Load sets key's committed history directly, bypassing staging. The
// history's strings, and key, may be views of a buffer the caller reuses:
// the store copies what it keeps. A restore loads a whole changelog with a
// Loader instead, which does not look each key up as it comes.
func (s *Store[S]) Load(key string, history []Entry) { s.shard(key).Load(key, history) }

// Unload removes key's committed process directly, bypassing staging, as
// a tombstone does.
func (s *Store[S]) Unload(key string) { s.shard(key).Unload(key) }

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
	h := s.packed.historyView(r, nil)
	return &Process[S]{History: h, State: s.projection.Fold(h)}
}

// Put stages p as the process for key (see Store.Put).
func (s *Shard[S]) Put(key string, p *Process[S]) { s.staged[key] = p }

// Delete stages the removal of key.
func (s *Shard[S]) Delete(key string) { s.staged[key] = nil }

// Load is Store.Load for a key of this shard.
func (s *Shard[S]) Load(key string, history []Entry) {
	delete(s.read, key)
	h := KeyHash(key)
	r, had, taken := s.packed.lookup(key, h)
	s.packed.replace(key, h, history, r, had, taken)
}

// Unload is Store.Unload for a key of this shard.
func (s *Shard[S]) Unload(key string) {
	delete(s.read, key)
	s.packed.delete(key)
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
func (s *Shard[S]) Commit() { s.CommitEach(nil) }

// CommitEach is Commit that first shows each staged change to each (when
// not nil): the key and its KeyHash, the committed process it replaces (nil:
// none) and the new one (nil: a deletion). The engine keeps its timers and
// counts by it, in the same pass over the changes.
func (s *Shard[S]) CommitEach(each func(key string, hash uint64, old, cur *Process[S])) {
	for k, p := range s.staged {
		h := KeyHash(k)
		if each != nil {
			old, ok := s.read[k]
			if !ok {
				// Staged without being read (the engine reads every
				// process it changes, but the store does not rely on it).
				old = s.Committed(k)
			}
			each(k, h, old, p)
		}
		r, had, taken := s.packed.lookup(k, h)
		switch {
		case p != nil:
			s.packed.replace(k, h, p.History, r, had, taken)
		case had:
			s.packed.remove(k, h, r)
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
