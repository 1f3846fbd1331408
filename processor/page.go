package processor

import (
	"container/heap"
	"context"
	"errors"
	"iter"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/catering-match/catering-match/state"
)

// Cursor is a position in the order Page lists processes in: by the time
// of their first entry (oldest first), then by key. Both never change
// while a process lives, so a page boundary stays put as processes come,
// change and go. The zero Cursor is the start.
type Cursor struct {
	Started time.Time
	Key     string
}

// IsZero reports whether c is the start of the listing.
func (c Cursor) IsZero() bool { return c.Started.IsZero() && c.Key == "" }

func (c Cursor) compare(d Cursor) int {
	if n := c.Started.Compare(d.Started); n != 0 {
		return n
	}
	return strings.Compare(c.Key, d.Key)
}

func cursorOf[S any](s Snapshot[S]) Cursor {
	return Cursor{Started: s.Process.History[0].At.Time(), Key: s.Key}
}

// Page is one page of a listing.
type Page[S any] struct {
	// Items are at most the limit asked for, in listing order, all after
	// the cursor asked for.
	Items []Snapshot[S]
	// Matched counts the processes keep accepted, on every page.
	Matched int
	// Next is where the next page starts: after the last item. It is zero
	// on the last page.
	Next Cursor
}

// pageChunk bounds the processes one visit of Page to the loop looks at.
// At 100,000 processes over 3 partitions a store shard holds about 4,000;
// unlike a shard, the chunk does not grow with the store.
const pageChunk = 4096

// Page returns the processes of every partition that keep accepts and that
// come after the cursor, oldest first, at most limit of them, and how many
// keep accepted in all. Like List, it reads the partitions this instance
// owns from memory and the others from the changelog. Unlike List, it
// never holds the loop for more than pageChunk processes at a time: it
// walks the owned stores in pieces, one loop visit each, and keeps only the
// best limit candidates, so its memory follows limit and not the number of
// processes (a partition read from the changelog is loaded whole, as List
// does). keep runs on the loop goroutine for owned partitions, under the
// same rules as List's.
//
// The owned partitions are seen as they are at each visit, not at one
// instant: a process that changes while the walk goes on shows as it was
// when its piece was visited. A partition that changes hands during the
// walk is read from the changelog instead.
func (p *Processor[S]) Page(ctx context.Context, keep func(Snapshot[S]) bool, after Cursor, limit int) (Page[S], error) {
	if limit < 1 {
		return Page[S]{}, errors.New("page limit must be at least 1")
	}
	parts := p.partitions.Load()
	if parts == 0 {
		return Page[S]{}, ErrNotRunning
	}
	g := &pager[S]{p: p, keep: keep, after: after, limit: limit, matched: map[int32]int{}, later: map[int32]int{}}
	defer g.close()

	// The first visit to each member's loop takes its owned stores, and
	// each visit walks the next piece of them, until every store has been
	// walked.
	for _, m := range p.members {
		if err := m.inLoop(ctx, func() { g.start(m) }); err != nil {
			return Page[S]{}, err
		}
	}
	for _, m := range p.members {
		for !g.walked(m) {
			if err := m.inLoop(ctx, func() { g.step(m) }); err != nil {
				return Page[S]{}, err
			}
		}
	}

	var cl *kgo.Client // one client for every partition read from the changelog
	defer func() {
		if cl != nil {
			cl.Close()
		}
	}()
	for id := range parts {
		if g.fromMemory(id) {
			continue
		}
		if cl == nil {
			var err error
			if cl, err = kgo.NewClient(p.clientOpts()...); err != nil {
				return Page[S]{}, err
			}
		}
		store, err := LoadPartition(ctx, cl, p.def, p.cfg.Topics.Changelog, id, p.cfg.Limits, p.log)
		if err != nil {
			return Page[S]{}, err
		}
		g.mu.Lock()
		for key, proc := range store.All() {
			g.offer(p.snapshot(key, proc, id, "changelog"))
		}
		g.mu.Unlock()
	}
	return g.result(), nil
}

// pager is one Page call's walk. Its fields are touched by the loop (in
// start and step) and by the caller, one at a time under mu; the caller
// reads them only once no visit can still run (see close).
type pager[S any] struct {
	p     *Processor[S]
	keep  func(Snapshot[S]) bool
	after Cursor
	limit int

	mu     sync.Mutex
	closed bool
	walks  []*storeWalk[S] // the owned stores, in the order they are walked
	best   pageHeap[S]     // the best candidates so far: at most limit, worst on top
	// matched and later count, per partition, what keep accepted and how
	// much of it comes after the cursor.
	matched, later map[int32]int
}

// storeWalk walks one owned store, a piece at a time, on the loop of the
// member that owns it.
type storeWalk[S any] struct {
	m     *member[S]
	part  *partition[S]
	store *state.Store[S]
	next  func() (string, *state.Process[S], bool)
	stop  func()
	done  bool // walked to its end, or changed hands (moved)
	moved bool // changed hands during the walk: read from the changelog
}

// start runs on m's loop: it takes m's owned partitions, then walks the
// first piece of them.
func (g *pager[S]) start(m *member[S]) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.closed {
		return
	}
	for _, pt := range m.parts {
		if pt.store == nil {
			continue // restoring: read from the changelog
		}
		w := &storeWalk[S]{m: m, part: pt, store: pt.store}
		w.next, w.stop = iter.Pull2(pt.store.All())
		g.walks = append(g.walks, w)
	}
	slices.SortFunc(g.walks, func(a, b *storeWalk[S]) int { return int(a.part.id) - int(b.part.id) })
	g.walk(m)
}

// step runs on m's loop: it walks the next piece of m's stores.
func (g *pager[S]) step(m *member[S]) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if !g.closed {
		g.walk(m)
	}
}

// walk offers at most pageChunk processes of m's stores not walked yet.
func (g *pager[S]) walk(m *member[S]) {
	budget := pageChunk
	for _, w := range g.walks {
		if w.done || w.m != m {
			continue
		}
		if m.parts[w.part.id] != w.part || w.part.store != w.store {
			// Revoked, lost or restored anew since the walk began: what was
			// offered from it goes, and the changelog has the rest.
			w.done, w.moved = true, true
			w.stop()
			g.forget(w.part.id)
			continue
		}
		for budget > 0 {
			key, proc, ok := w.next()
			if !ok {
				w.done = true
				break
			}
			budget--
			g.offer(g.p.snapshot(key, proc, w.part.id, "memory"))
		}
		if budget == 0 {
			return
		}
	}
}

// walked reports whether every store m owns has been walked.
func (g *pager[S]) walked(m *member[S]) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	for _, w := range g.walks {
		if w.m == m && !w.done {
			return false
		}
	}
	return true
}

// fromMemory reports whether partition id was walked in memory to its end.
func (g *pager[S]) fromMemory(id int32) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	for _, w := range g.walks {
		if w.part.id == id {
			return !w.moved
		}
	}
	return false
}

// offer counts s if keep accepts it, and keeps it if it is among the best
// limit after the cursor so far.
func (g *pager[S]) offer(s Snapshot[S]) {
	if !g.keep(s) {
		return
	}
	g.matched[s.Partition]++
	c := cursorOf(s)
	if c.compare(g.after) <= 0 {
		return
	}
	g.later[s.Partition]++
	switch {
	case len(g.best) < g.limit:
		heap.Push(&g.best, s)
	case c.compare(cursorOf(g.best[0])) < 0:
		g.best[0] = s
		heap.Fix(&g.best, 0)
	}
}

// forget drops what partition id contributed.
func (g *pager[S]) forget(id int32) {
	g.best = slices.DeleteFunc(g.best, func(s Snapshot[S]) bool { return s.Partition == id })
	heap.Init(&g.best)
	delete(g.matched, id)
	delete(g.later, id)
}

// close ends the walks; a visit still queued on the loop (the caller's
// context ended while it waited) then does nothing. The pulled iterators
// are stopped under mu, never at the same time as a visit uses them.
func (g *pager[S]) close() {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.closed = true
	for _, w := range g.walks {
		if !w.done {
			w.stop()
		}
	}
}

func (g *pager[S]) result() Page[S] {
	g.mu.Lock()
	defer g.mu.Unlock()
	out := Page[S]{Items: slices.Clone(g.best)}
	slices.SortFunc(out.Items, func(a, b Snapshot[S]) int { return cursorOf(a).compare(cursorOf(b)) })
	later := 0
	for id, n := range g.matched {
		out.Matched += n
		later += g.later[id]
	}
	if later > len(out.Items) {
		out.Next = cursorOf(out.Items[len(out.Items)-1])
	}
	return out
}

// pageHeap is a max-heap of snapshots by cursor: the worst candidate is on
// top, to be replaced by a better one.
type pageHeap[S any] []Snapshot[S]

func (h pageHeap[S]) Len() int { return len(h) }
func (h pageHeap[S]) Less(i, j int) bool {
	return cursorOf(h[i]).compare(cursorOf(h[j])) > 0
}
func (h pageHeap[S]) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *pageHeap[S]) Push(x any)   { *h = append(*h, x.(Snapshot[S])) }
func (h *pageHeap[S]) Pop() any {
	old := *h
	s := old[len(old)-1]
	*h = old[:len(old)-1]
	return s
}
