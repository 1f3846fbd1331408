package state

import (
	"encoding/binary"
	"iter"
	"slices"
	"strings"
	"unsafe"
)

// packed holds the committed histories of one shard as bytes, in chunks
// that hold no pointers, and finds them through an index that holds no
// pointers either (a key's hash to where its record is; see index). So however many
// processes a shard holds, the garbage collector marks a few hundred chunk
// objects for it instead of several objects per process: with a million
// live processes the marking of every GC cycle took one of two cores for
// long enough to set the loop's tail latency (docs/benchmarks.md).
//
// The price is a decode (and a fold, by the Shard) when a committed process
// is read, and an encode when one is committed.
//
// A record is
//
//	uvarint size of the rest | uvarint len(key) | key | uvarint entries |
//	uvarint len(strings) | strings | per entry: type code, [uvarint len(type)
//	when the code is literalType], uvarint len(ID), uvarint len(Ref), At (8 B)
//
// where strings holds, entry after entry, the literal type (if any), the ID
// and the Ref. A type code indexes the shard's table of entry types, so the
// few types a definition has are stored once per shard.
//
// A replaced or deleted record becomes dead bytes in its chunk. A commit
// that leaves more dead bytes than half the live ones moves the live
// records out of the emptiest chunks (compaction), a couple of chunks per
// commit so that no commit pays for all of them.
type packed struct {
	index  index          // a key's hash (KeyHash): where its record is
	clash  map[string]ref // keys whose hash a key in index already has
	chunks [][]byte       // nil: free
	live   []int          // live bytes per chunk
	free   []int          // indexes of free chunks
	tail   int            // the chunk records are appended to, or -1
	types  []string
	typeOf map[string]byte
	mask   uint64 // of the hash: all ones, but a test narrows it to make keys clash
	size   int    // of a chunk: chunkSize, but a test makes it small

	liveBytes, deadBytes int
}

// ref is where a record starts: chunk index << 32 | offset.
type ref uint64

func refOf(chunk, off int) ref    { return ref(uint64(chunk)<<32 | uint64(off)) }
func (r ref) chunk() int          { return int(r >> 32) }
func (r ref) off() int            { return int(uint32(r)) }
func (p *packed) at(r ref) []byte { return p.chunks[r.chunk()][r.off():] }

const (
	chunkSize   = 256 << 10 // 1 GiB of histories is 4,096 chunks
	literalType = 0xFF      // a type not in the table; the table holds at most 255
	// compactChunksPerCommit bounds the work one commit spends moving live
	// records.
	compactChunksPerCommit = 2
)

func newPacked() packed {
	return packed{index: newIndex(0), tail: -1, typeOf: map[string]byte{}, mask: ^uint64(0), size: chunkSize}
}

// Len is the number of keys held.
func (p *packed) Len() int { return p.index.Len() + len(p.clash) }

// find returns where key's record is.
func (p *packed) find(key string) (ref, bool) {
	r, had, _ := p.lookup(key, KeyHash(key))
	return r, had
}

// lookup is find for a key whose KeyHash is h. It also reports whether the
// index's slot for h is taken (by key or by another key of the same hash),
// which is what a replace needs to know.
func (p *packed) lookup(key string, h uint64) (r ref, had, taken bool) {
	if len(p.clash) > 0 {
		if r, ok := p.clash[key]; ok {
			return r, true, true
		}
	}
	r, taken = p.index.get(h & p.mask)
	if taken && string(recordKey(p.at(r))) == key {
		return r, true, true
	}
	return 0, false, taken
}

// recordKey is the key of the record at the start of b.
func recordKey(b []byte) []byte {
	_, n := binary.Uvarint(b)
	kl, m := binary.Uvarint(b[n:])
	return b[n+m : n+m+int(kl)]
}

// recordLen is the length of the record at the start of b.
func recordLen(b []byte) int {
	size, n := binary.Uvarint(b)
	return n + int(size)
}

// put stores history as key's record, replacing any it had.
func (p *packed) put(key string, history []Entry) {
	h := KeyHash(key)
	old, had, taken := p.lookup(key, h)
	p.replace(key, h, history, old, had, taken)
}

// replace is put for a key whose KeyHash is h and whose lookup gave old,
// had and taken.
func (p *packed) replace(key string, h uint64, history []Entry, old ref, had, taken bool) {
	r := p.append(key, history)
	if had {
		p.kill(old)
		if _, inClash := p.clash[key]; inClash {
			// Assigning to a present string key also stores the key given,
			// which may be a view of a record: store a copy.
			p.clash[strings.Clone(key)] = r
		} else {
			p.index.set(h&p.mask, r)
		}
		return
	}
	if taken {
		if p.clash == nil {
			p.clash = map[string]ref{}
		}
		p.clash[strings.Clone(key)] = r // key may be a view of a record
		return
	}
	p.index.set(h&p.mask, r)
}

// delete removes key's record, if it has one.
func (p *packed) delete(key string) {
	h := KeyHash(key)
	if r, had, _ := p.lookup(key, h); had {
		p.remove(key, h, r)
	}
}

// remove removes key's record r, whose KeyHash is h.
func (p *packed) remove(key string, h uint64, r ref) {
	p.kill(r)
	if _, inClash := p.clash[key]; inClash {
		delete(p.clash, key)
	} else {
		p.index.del(h & p.mask)
	}
}

// kill counts the record at r as dead, and frees its chunk when nothing in
// it lives any more.
func (p *packed) kill(r ref) {
	n, c := recordLen(p.at(r)), r.chunk()
	p.live[c] -= n
	p.liveBytes -= n
	p.deadBytes += n
	if p.live[c] == 0 && c != p.tail {
		p.release(c)
	}
}

// release frees chunk c, whose live records are gone or moved.
func (p *packed) release(c int) {
	p.deadBytes -= len(p.chunks[c]) - p.live[c]
	p.chunks[c], p.live[c] = nil, 0
	p.free = append(p.free, c)
}

// append encodes a record and appends it to the tail chunk (or to a chunk
// of its own when it is larger than a chunk).
func (p *packed) append(key string, history []Entry) ref {
	var codes [16]byte // the type codes of the first entries, looked up once
	var strs, fixed int
	for i, e := range history {
		c, ok := p.code(e.Type)
		if i < len(codes) {
			codes[i] = c
			if !ok {
				codes[i] = literalType
			}
		}
		if !ok {
			strs += len(e.Type)
			fixed += uvarintLen(uint64(len(e.Type)))
		}
		strs += len(e.ID) + len(e.Ref)
		fixed += 1 + uvarintLen(uint64(len(e.ID))) + uvarintLen(uint64(len(e.Ref))) + 8
	}
	rest := uvarintLen(uint64(len(key))) + len(key) + uvarintLen(uint64(len(history))) +
		uvarintLen(uint64(strs)) + strs + fixed
	total := uvarintLen(uint64(rest)) + rest

	c := p.tail
	if c < 0 || len(p.chunks[c])+total > cap(p.chunks[c]) {
		c = p.newChunk(max(p.size, total))
		if total <= p.size {
			if p.tail >= 0 && p.live[p.tail] == 0 {
				p.release(p.tail)
			}
			p.tail = c
		}
	}
	b := p.chunks[c]
	off := len(b)
	b = binary.AppendUvarint(b, uint64(rest))
	b = binary.AppendUvarint(b, uint64(len(key)))
	b = append(b, key...)
	b = binary.AppendUvarint(b, uint64(len(history)))
	b = binary.AppendUvarint(b, uint64(strs))
	codeOf := func(i int, t string) byte {
		if i < len(codes) {
			return codes[i]
		}
		if c, ok := p.code(t); ok {
			return c
		}
		return literalType
	}
	for i, e := range history {
		if codeOf(i, e.Type) == literalType {
			b = append(b, e.Type...)
		}
		b = append(b, e.ID...)
		b = append(b, e.Ref...)
	}
	for i, e := range history {
		code := codeOf(i, e.Type)
		if code == literalType {
			b = append(b, literalType)
			b = binary.AppendUvarint(b, uint64(len(e.Type)))
		} else {
			b = append(b, code)
		}
		b = binary.AppendUvarint(b, uint64(len(e.ID)))
		b = binary.AppendUvarint(b, uint64(len(e.Ref)))
		b = binary.LittleEndian.AppendUint64(b, uint64(e.At))
	}
	p.chunks[c] = b
	p.live[c] += total
	p.liveBytes += total
	return refOf(c, off)
}

// code is the table code of an entry type, adding the type to the table
// while it has room.
func (p *packed) code(t string) (byte, bool) {
	// A definition has a handful of types: a scan of the first few beats
	// the map's hashing.
	for i, known := range p.types[:min(len(p.types), 8)] {
		if known == t {
			return byte(i), true
		}
	}
	if c, ok := p.typeOf[t]; ok {
		return c, true
	}
	if len(p.types) == literalType {
		return 0, false
	}
	c := byte(len(p.types))
	p.types = append(p.types, t)
	p.typeOf[t] = c
	return c, true
}

func (p *packed) newChunk(size int) int {
	buf := make([]byte, 0, size)
	if n := len(p.free); n > 0 {
		c := p.free[n-1]
		p.free = p.free[:n-1]
		p.chunks[c] = buf
		return c
	}
	p.chunks = append(p.chunks, buf)
	p.live = append(p.live, 0)
	return len(p.chunks) - 1
}

// historyView decodes the record at r, appending its entries to dst. The
// strings are views of the chunk, whose bytes never change once written:
// the history stays valid after the record is replaced, moved or deleted,
// and holding it keeps the chunk in memory.
func (p *packed) historyView(r ref, dst []Entry) []Entry {
	b := p.at(r)
	_, n := binary.Uvarint(b)
	b = b[n:]
	kl, n := binary.Uvarint(b)
	b = b[n+int(kl):]
	count, n := binary.Uvarint(b)
	b = b[n:]
	sl, n := binary.Uvarint(b)
	b = b[n:]
	strs := view(b[:sl])
	b = b[sl:]
	dst = slices.Grow(dst, int(count))
	pos := 0
	take := func(l uint64) string {
		s := strs[pos : pos+int(l)]
		pos += int(l)
		return s
	}
	for range count {
		code := b[0]
		b = b[1:]
		var typ string
		if code == literalType {
			tl, n := binary.Uvarint(b)
			b = b[n:]
			typ = take(tl)
		} else {
			typ = p.types[code]
		}
		il, n := binary.Uvarint(b)
		b = b[n:]
		rl, n := binary.Uvarint(b)
		b = b[n:]
		dst = append(dst, Entry{Type: typ, ID: take(il), Ref: take(rl), At: Stamp(binary.LittleEndian.Uint64(b))})
		b = b[8:]
	}
	return dst
}

// view is b as a string without a copy: b must never change.
func view(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	return unsafe.String(&b[0], len(b))
}

// keysByHash yields the keys held whose KeyHash is h, as views of their
// records (see historyView).
func (p *packed) keysByHash(h uint64) iter.Seq[string] {
	return func(yield func(string) bool) {
		if r, ok := p.index.get(h & p.mask); ok {
			if k := recordKey(p.at(r)); KeyHashBytes(k) == h && !yield(view(k)) {
				return
			}
		}
		for k := range p.clash {
			if KeyHash(k) == h && !yield(k) {
				return
			}
		}
	}
}

// all yields every key (a view of the record: copy it to keep it) with
// where its record is.
func (p *packed) all() iter.Seq2[[]byte, ref] {
	return func(yield func([]byte, ref) bool) {
		for _, r := range p.index.all {
			if !yield(recordKey(p.at(r)), r) {
				return
			}
		}
		for _, r := range p.clash {
			if !yield(recordKey(p.at(r)), r) {
				return
			}
		}
	}
}

// compact moves the live records out of the emptiest chunks while dead
// bytes exceed half the live ones, at most compactChunksPerCommit chunks.
func (p *packed) compact() {
	for range compactChunksPerCommit {
		if p.deadBytes <= p.liveBytes/2 || p.deadBytes < 2*p.size {
			return
		}
		c, least := -1, p.size
		for i, b := range p.chunks {
			if b != nil && i != p.tail && p.live[i] < least && len(b)-p.live[i] >= p.size/4 {
				c, least = i, p.live[i]
			}
		}
		if c < 0 {
			return
		}
		p.move(c)
	}
}

// move appends every live record of chunk c to the tail and frees c.
func (p *packed) move(c int) {
	b := p.chunks[c]
	for off := 0; off < len(b); {
		n := recordLen(b[off:])
		key := recordKey(b[off:])
		if p.holds(key, refOf(c, off)) {
			p.relocate(key, b[off:off+n])
		}
		off += n
	}
	p.release(c) // its live records moved, so what stays is its dead bytes
}

// holds reports whether key's record is the one at r.
func (p *packed) holds(key []byte, r ref) bool {
	if cr, ok := p.clash[string(key)]; ok {
		return cr == r
	}
	ir, ok := p.index.get(KeyHashBytes(key) & p.mask)
	return ok && ir == r // not ir == r alone: a missing hash reads as ref 0, chunk 0's first record
}

// relocate copies key's record rec to the tail and points key at the copy.
// The chunk it leaves is released by the caller, so its live count stays.
func (p *packed) relocate(key []byte, rec []byte) {
	t := p.tail
	if t < 0 || len(p.chunks[t])+len(rec) > cap(p.chunks[t]) {
		t = p.newChunk(max(p.size, len(rec)))
		if len(rec) <= p.size {
			if p.tail >= 0 && p.live[p.tail] == 0 {
				p.release(p.tail)
			}
			p.tail = t
		}
	}
	off := len(p.chunks[t])
	p.chunks[t] = append(p.chunks[t], rec...)
	p.live[t] += len(rec)
	nr := refOf(t, off)
	if _, inClash := p.clash[string(key)]; inClash {
		p.clash[string(key)] = nr
	} else {
		p.index.set(KeyHashBytes(key)&p.mask, nr)
	}
}

// bytes is the memory the chunks take: what they hold, live and dead.
func (p *packed) bytes() int {
	n := 0
	for _, b := range p.chunks {
		n += cap(b)
	}
	return n
}

func uvarintLen(x uint64) int {
	n := 1
	for x >= 0x80 {
		x >>= 7
		n++
	}
	return n
}
