package state

import (
	"strings"
)

// A Loader fills an empty store from a changelog: Add (or Remove) each
// record in changelog order, then Finish. Load looks every key up as it
// comes, and in a store of a million processes nearly every lookup is a
// cache miss into the index. A Loader appends each history to the chunks
// and notes its key's hash; Finish orders each shard's notes by their slot
// in the index (a counting sort on the hash's top bits), keeps the newest
// record of every key (a tombstone removes it), and fills the index in
// slot order, which walks memory in order (see index).
//
// A Loader is not safe for concurrent use. The store must not be used
// until Finish has returned.
type Loader[S any] struct {
	store *Store[S]
	notes [Shards][]loadNote // in changelog order
	tombs [Shards][]string   // the keys of tombstones, by loadNote.tomb
}

type loadNote struct {
	hash uint64
	at   ref   // the record in the chunks, unless a tombstone
	tomb int32 // index in tombs of a tombstone's key; -1: a record
	info LoadInfo
}

// LoadInfo is what a loader's caller keeps of a record until Finish, which
// gives it back for the record that stands for its key.
type LoadInfo struct {
	At   int64
	Meta uint32
}

// NewLoader returns a loader into s, which must be empty, for about n
// records.
func (s *Store[S]) NewLoader(n int) *Loader[S] {
	l := &Loader[S]{store: s}
	for i := range l.notes {
		l.notes[i] = make([]loadNote, 0, n/Shards+n/(8*Shards)+16)
	}
	return l
}

// Add notes the record of key with its history: the history's strings,
// and key, may be views of a buffer the caller reuses (the store copies
// them).
func (l *Loader[S]) Add(key string, history []Entry, info LoadInfo) {
	hash := KeyHash(key)
	sh := shardOfHash(hash)
	r := l.store.shards[sh].packed.append(key, history)
	l.notes[sh] = append(l.notes[sh], loadNote{hash: hash, at: r, tomb: -1, info: info})
}

// Remove notes a tombstone of key, the key of a changelog record (the
// loader keeps a copy).
func (l *Loader[S]) Remove(key []byte) {
	hash := KeyHashBytes(key)
	sh := shardOfHash(hash)
	l.notes[sh] = append(l.notes[sh], loadNote{hash: hash, tomb: int32(len(l.tombs[sh]))})
	l.tombs[sh] = append(l.tombs[sh], string(key))
}

// Finish builds every shard's index from the notes and calls kept with the
// KeyHash and the info of each record that stands for its key. The store
// is then ready.
func (l *Loader[S]) Finish(kept func(hash uint64, info LoadInfo)) {
	for sh := range l.notes {
		l.finishShard(sh, kept)
		l.notes[sh], l.tombs[sh] = nil, nil
	}
}

func (l *Loader[S]) finishShard(sh int, kept func(uint64, LoadInfo)) {
	p := &l.store.shards[sh].packed
	notes := l.notes[sh]
	if len(notes) == 0 {
		return
	}
	// What the index files a note under, and that key's home slot.
	key := func(n *loadNote) uint64 { return filed(n.hash & p.mask) }
	p.index.resize(max(p.index.Len(), len(notes)))
	home := func(n *loadNote) int { return int(key(n) >> p.index.shift) }

	// A counting sort of the notes' positions by home slot: stable, so each
	// slot's notes stay in changelog order.
	starts := make([]int32, len(p.index.slots)+1)
	for i := range notes {
		starts[home(&notes[i])+1]++
	}
	for i := 1; i < len(starts); i++ {
		starts[i] += starts[i-1]
	}
	order := make([]int32, len(notes))
	next := starts[: len(starts)-1 : len(starts)-1]
	for i := range notes {
		h := home(&notes[i])
		order[next[h]] = int32(i)
		next[h]++
	}
	// next[h] is now where slot h's notes end, and the start of slot h+1's.

	type newest struct {
		key  string
		note *loadNote
	}
	var keys []newest
	for lo := 0; lo < len(order); {
		hi := lo + 1
		for hi < len(order) && home(&notes[order[hi]]) == home(&notes[order[lo]]) {
			hi++
		}
		// One home slot's notes, in changelog order: almost always one, or
		// a few of one key. Runs of one index key in turn, as in a sort by
		// (key, position): an insertion sort of a handful.
		run := order[lo:hi]
		for i := 1; i < len(run); i++ {
			for j := i; j > 0 && key(&notes[run[j]]) < key(&notes[run[j-1]]); j-- {
				run[j], run[j-1] = run[j-1], run[j]
			}
		}
		for a := 0; a < len(run); {
			b := a + 1
			for b < len(run) && key(&notes[run[b]]) == key(&notes[run[a]]) {
				b++
			}
			if b == a+1 {
				// One note for its index key, the common case: no key to
				// compare, so the record's bytes are not read.
				if n := &notes[run[a]]; n.tomb < 0 {
					p.index.insert(key(n), n.at)
					kept(n.hash, n.info)
				}
				a = b
				continue
			}
			keys = keys[:0]
			for _, pos := range run[a:b] {
				n := &notes[pos]
				var k string
				if n.tomb >= 0 {
					k = l.tombs[sh][n.tomb]
				} else {
					k = view(recordKey(p.at(n.at)))
				}
				found := false
				for m := range keys {
					if keys[m].key == k {
						if old := keys[m].note; old.tomb < 0 {
							p.kill(old.at)
						}
						keys[m].note, found = n, true
						break
					}
				}
				if !found {
					keys = append(keys, newest{k, n})
				}
			}
			indexed := false
			for _, k := range keys {
				n := k.note
				if n.tomb >= 0 {
					continue
				}
				if !indexed {
					p.index.insert(key(n), n.at) // in slot order
					indexed = true
				} else {
					if p.clash == nil {
						p.clash = map[string]ref{}
					}
					p.clash[strings.Clone(k.key)] = n.at
				}
				kept(n.hash, n.info)
			}
			a = b
		}
		lo = hi
	}
}
