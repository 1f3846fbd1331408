package state

import (
	"iter"
	"maps"
)

// Store holds the live processes of one partition. Changes are staged and
// become visible to Get only as staged, until Commit makes them the
// committed state or Rollback discards them: this mirrors the Kafka
// transaction that carries them.
//
// A Store is not safe for concurrent use; one partition is owned by one
// goroutine at a time.
type Store[S any] struct {
	committed map[string]*Process[S]
	staged    map[string]*Process[S] // nil value: staged deletion
}

// NewStore returns an empty store.
func NewStore[S any]() *Store[S] { return NewStoreSized[S](0) }

// NewStoreSized returns an empty store with room for about n processes: a
// restore that knows how many records it will read spares the map's
// growth (each growth rehashes every key).
func NewStoreSized[S any](n int) *Store[S] {
	return &Store[S]{committed: make(map[string]*Process[S], n), staged: map[string]*Process[S]{}}
}

// Get returns the process for key, staged changes included, or nil.
func (s *Store[S]) Get(key string) *Process[S] {
	if p, ok := s.staged[key]; ok {
		return p
	}
	return s.committed[key]
}

// Committed returns the committed process for key, ignoring staged changes.
func (s *Store[S]) Committed(key string) *Process[S] { return s.committed[key] }

// Put stages p as the process for its key.
func (s *Store[S]) Put(p *Process[S]) { s.staged[p.Key] = p }

// Delete stages the removal of key.
func (s *Store[S]) Delete(key string) { s.staged[key] = nil }

// Load sets a committed process directly, bypassing staging: for restore.
// A nil process removes the key.
func (s *Store[S]) Load(key string, p *Process[S]) {
	if p == nil {
		delete(s.committed, key)
		return
	}
	s.committed[key] = p
}

// Staged yields each staged change: the process, or nil for a deletion.
func (s *Store[S]) Staged() iter.Seq2[string, *Process[S]] { return maps.All(s.staged) }

// HasStaged reports whether anything is staged.
func (s *Store[S]) HasStaged() bool { return len(s.staged) > 0 }

// Commit makes the staged changes the committed state.
func (s *Store[S]) Commit() {
	for k, p := range s.staged {
		if p == nil {
			delete(s.committed, k)
		} else {
			s.committed[k] = p
		}
	}
	clear(s.staged)
}

// Rollback discards the staged changes.
func (s *Store[S]) Rollback() { clear(s.staged) }

// All yields the committed processes (staged changes excluded).
func (s *Store[S]) All() iter.Seq2[string, *Process[S]] { return maps.All(s.committed) }

// Len is the number of committed processes.
func (s *Store[S]) Len() int { return len(s.committed) }
