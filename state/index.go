package state

// index maps a key hash to where its record is: open addressing with
// linear probing in one slice of 16-byte slots that hold no pointers. A
// slot's home is the hash's top bits, so the slots are in hash order (up
// to the runs of probing), which gives the two things a Go map does not:
//
//   - a lookup in a large store touches one cache line, where a map's
//     group of control bytes and slots touches about two;
//   - hashes inserted in sorted order (a restore's bulk load) and a
//     doubling (which moves the slots in order) walk memory in order, so
//     building the index of a million processes costs no cache misses, where
//     a map's random inserts missed on nearly every key (a fifth of a
//     restore's CPU at two million processes, docs/benchmarks.md).
//
// The hash 0 marks an empty slot: a key whose hash is 0 is filed as 1 (the
// packed store compares the record's key anyway, so that is one more
// clash, nothing else).
type index struct {
	slots []indexSlot // len is a power of two, or zero
	n     int
	shift uint // 64 - log2(len(slots)): a hash's home is h >> shift
}

type indexSlot struct {
	hash uint64
	at   ref
}

// maxLoad is the most of the slots an index fills before it doubles: 3/4.
func maxLoad(slots int) int { return slots - slots/4 }

// newIndex returns an index with room for n hashes before it grows.
func newIndex(n int) index {
	var x index
	x.resize(n)
	return x
}

// resize makes the table the smallest power of two that holds n at most
// maxLoad, and moves the slots into it in order.
func (x *index) resize(n int) {
	size := 8
	for maxLoad(size) < n {
		size *= 2
	}
	old := x.slots
	x.slots = make([]indexSlot, size)
	x.shift = uint(64 - log2(size))
	x.n = 0
	for _, s := range old {
		if s.hash != 0 {
			x.insert(s.hash, s.at)
		}
	}
}

func log2(n int) int {
	k := 0
	for 1<<k < n {
		k++
	}
	return k
}

func filed(h uint64) uint64 {
	if h == 0 {
		return 1
	}
	return h
}

func (x *index) Len() int { return x.n }

// get returns where the record of hash h is.
func (x *index) get(h uint64) (ref, bool) {
	if x.n == 0 {
		return 0, false
	}
	h = filed(h)
	mask := len(x.slots) - 1
	for i := int(h >> x.shift); ; i = (i + 1) & mask {
		s := &x.slots[i]
		if s.hash == h {
			return s.at, true
		}
		if s.hash == 0 {
			return 0, false
		}
	}
}

// set files r under h, replacing what h had.
func (x *index) set(h uint64, r ref) {
	if maxLoad(len(x.slots)) <= x.n {
		x.resize(x.n + 1)
	}
	x.insert(filed(h), r)
}

// insert is set without the growth check, for a filed hash.
func (x *index) insert(h uint64, r ref) {
	mask := len(x.slots) - 1
	for i := int(h >> x.shift); ; i = (i + 1) & mask {
		s := &x.slots[i]
		if s.hash == h {
			s.at = r
			return
		}
		if s.hash == 0 {
			*s = indexSlot{hash: h, at: r}
			x.n++
			return
		}
	}
}

// del removes h, if it is there. The slots after it in its run move back
// where their probe allows (backward-shift deletion), so no tombstone is
// left for later probes to walk over.
func (x *index) del(h uint64) {
	if x.n == 0 {
		return
	}
	h = filed(h)
	mask := len(x.slots) - 1
	i := int(h >> x.shift)
	for ; x.slots[i].hash != h; i = (i + 1) & mask {
		if x.slots[i].hash == 0 {
			return
		}
	}
	for j := (i + 1) & mask; x.slots[j].hash != 0; j = (j + 1) & mask {
		// The slot at j may move back to i if its home is not in (i, j]
		// (cyclically): then i is on its probe path.
		home := int(x.slots[j].hash >> x.shift)
		if (j-home)&mask >= (j-i)&mask {
			x.slots[i] = x.slots[j]
			i = j
		}
	}
	x.slots[i] = indexSlot{}
	x.n--
}

// all yields every filed hash with its record.
func (x *index) all(yield func(h uint64, r ref) bool) {
	for _, s := range x.slots {
		if s.hash != 0 && !yield(s.hash, s.at) {
			return
		}
	}
}
