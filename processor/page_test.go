package processor

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/catering-match/catering-match/internal/embedded"
	"github.com/catering-match/catering-match/state"
	"github.com/catering-match/catering-match/topics"
)

// testLoop stands in for the session's loop: it answers the queued queries
// one at a time and measures each visit: how long it held the loop and how
// many processes keep looked at during it.
type testLoop[S any] struct {
	p       *Processor[S]
	looked  atomic.Int64 // processes keep looked at in the current visit
	between func(visit int)

	busy    sync.Mutex // held through a visit and its measurement
	mu      sync.Mutex
	visits  int
	most    int64         // processes looked at in one visit, at most
	longest time.Duration // one visit, at most
}

// newTestLoop returns a processor without Kafka over the given stores (by
// partition, all owned), spread over members members by partition, with one
// loop that answers every member's queries until the test ends.
func newTestLoop(t *testing.T, parts int32, stores map[int32]*state.Store[state.Order], members int) *testLoop[state.Order] {
	t.Helper()
	def, err := testDefinition().WithDefaults()
	require.NoError(t, err)
	m, err := state.NewManager(def.Process, state.DefaultLimits())
	require.NoError(t, err)
	p := &Processor[state.Order]{cfg: Config{Limits: state.DefaultLimits()}, def: def, manager: m, clock: time.Now,
		log: slog.New(slog.DiscardHandler)}
	p.partitions.Store(parts)
	for i := range members {
		p.members = append(p.members, &member[state.Order]{Processor: p, id: i, parts: map[int32]*partition[state.Order]{}, running: true})
	}
	for id, s := range stores {
		p.members[int(id)%members].parts[id] = &partition[state.Order]{id: id, store: s}
	}
	l := &testLoop[state.Order]{p: p}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		for ctx.Err() == nil {
			var qs []func()
			for _, mb := range p.members {
				mb.mu.Lock()
				qs = append(qs, mb.queries...)
				mb.queries = nil
				mb.mu.Unlock()
			}
			for _, q := range qs {
				l.mu.Lock()
				visit := l.visits
				l.mu.Unlock()
				if l.between != nil {
					l.between(visit)
				}
				l.busy.Lock()
				l.looked.Store(0)
				start := time.Now()
				q()
				took := time.Since(start)
				l.mu.Lock()
				l.visits++
				l.most = max(l.most, l.looked.Load())
				l.longest = max(l.longest, took)
				l.mu.Unlock()
				l.busy.Unlock()
			}
			if len(qs) == 0 {
				time.Sleep(20 * time.Microsecond)
			}
		}
	}()
	t.Cleanup(func() {
		cancel()
		<-done
	})
	return l
}

// reset clears the measurements and returns the ones so far.
func (l *testLoop[S]) reset() (visits int, most int64, longest time.Duration) {
	l.busy.Lock() // the visit that answered the caller may still be measured
	defer l.busy.Unlock()
	l.mu.Lock()
	defer l.mu.Unlock()
	visits, most, longest = l.visits, l.most, l.longest
	l.visits, l.most, l.longest = 0, 0, 0
	return visits, most, longest
}

// keep counts what it looks at and keeps the pending processes.
func (l *testLoop[S]) keep(status string) func(Snapshot[S]) bool {
	return func(s Snapshot[S]) bool {
		l.looked.Add(1)
		return status == "" || s.Status == status
	}
}

func testDefinition() Definition[state.Order] {
	return Definition[state.Order]{
		Process: state.Catering(),
		Decode: func(r *kgo.Record) (string, state.Entry, error) {
			ev, err := topics.DecodeEvent(r.Key, r.Value)
			return ev.OrderID, state.Entry{ID: ev.ID, Type: ev.Type, Ref: ev.MenuID}, err
		},
		Status: func(o state.Order) string { return o.Status.String() },
	}
}

var pageT0 = time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)

// fill makes n processes spread over parts partitions as the input would
// spread them: every third is confirmed, the others pending. Their first
// entries are a millisecond apart but repeat every 1000, so that the key
// decides between equal times.
func fill(n int, parts int32) map[int32]*state.Store[state.Order] {
	stores := map[int32]*state.Store[state.Order]{}
	for id := range parts {
		stores[id] = state.NewStore(state.Catering().Projection)
	}
	for i := range n {
		key := fmt.Sprintf("order-%06d", (i*7919)%n) // not in time order
		at := pageT0.Add(time.Duration(i%1000) * time.Millisecond)
		h := []state.Entry{{ID: "c-" + key, Type: state.CustomerConfirmedMenu, Ref: "menu-a", At: state.StampOf(at)}}
		if i%3 == 0 {
			h = append(h,
				state.Entry{ID: "k-" + key, Type: state.CatererConfirmedMenu, Ref: "menu-a", At: state.StampOf(at.Add(time.Second))},
				state.Entry{ID: state.CommandID(key), Type: state.ConfirmOrderIssued, Ref: "menu-a", At: state.StampOf(at.Add(time.Second))})
		}
		stores[topics.PartitionFor(key, parts)].Load(key, h)
	}
	return stores
}

// listing is every process of the stores keep accepts, in Page's order.
func listing(stores map[int32]*state.Store[state.Order], status string) []Cursor {
	var out []Cursor
	for _, s := range stores {
		for key, proc := range s.All() {
			if status == "" || proc.State.Status.String() == status {
				out = append(out, cursorOf(Snapshot[state.Order]{Key: key, Process: proc}))
			}
		}
	}
	slices.SortFunc(out, Cursor.compare)
	return out
}

func cursors(items []Snapshot[state.Order]) []Cursor {
	out := make([]Cursor, len(items))
	for i, s := range items {
		out[i] = cursorOf(s)
	}
	return out
}

// TestPageVisitsTheLoopInPieces: with 100,000 live processes, one page
// holds the loop for at most pageChunk processes at a time, keeps the
// best limit, and the pages together are the whole listing, once each.
func TestPageVisitsTheLoopInPieces(t *testing.T) {
	for _, members := range []int{1, 2} {
		t.Run(fmt.Sprintf("members=%d", members), func(t *testing.T) { testPageVisitsTheLoopInPieces(t, members) })
	}
}

func testPageVisitsTheLoopInPieces(t *testing.T, members int) {
	const n, parts = 100_000, 3
	stores := fill(n, parts)
	l := newTestLoop(t, parts, stores, members)
	ctx := context.Background()

	want := listing(stores, "pending")
	pg, err := l.p.Page(ctx, l.keep("pending"), Cursor{}, 50)
	require.NoError(t, err)
	visits, most, _ := l.reset()
	require.Equal(t, want[:50], cursors(pg.Items))
	require.Equal(t, len(want), pg.Matched)
	require.Equal(t, want[49], pg.Next)
	require.LessOrEqual(t, most, int64(pageChunk), "no visit looks at more than a chunk")
	require.GreaterOrEqual(t, visits, (n+pageChunk-1)/pageChunk, "every process is looked at, a chunk per visit")
	require.LessOrEqual(t, visits, (n+pageChunk-1)/pageChunk+parts+1)
	for _, s := range pg.Items {
		require.Equal(t, "memory", s.Source)
		require.Equal(t, topics.PartitionFor(s.Key, parts), s.Partition)
		require.NotNil(t, s.Deadline)
	}

	// Page by page to the end: the listing, in order, each process once.
	var got []Cursor
	after := Cursor{}
	for pages := 0; ; pages++ {
		require.Less(t, pages, 20)
		pg, err := l.p.Page(ctx, l.keep("pending"), after, 7000)
		require.NoError(t, err)
		require.Equal(t, len(want), pg.Matched)
		got = append(got, cursors(pg.Items)...)
		if pg.Next.IsZero() {
			break
		}
		require.Len(t, pg.Items, 7000)
		after = pg.Next
	}
	require.Equal(t, want, got)

	// A cursor at the very end: an empty last page.
	pg, err = l.p.Page(ctx, l.keep(""), listing(stores, "")[n-1], 10)
	require.NoError(t, err)
	require.Empty(t, pg.Items)
	require.Equal(t, n, pg.Matched)
	require.True(t, pg.Next.IsZero())

	_, err = l.p.Page(ctx, l.keep(""), Cursor{}, 0)
	require.Error(t, err)
}

// TestPageAgainstList measures one page of 50 pending processes out of
// 100,000 against List, which the ops /orders used before: the time of the
// query and the longest single hold of the loop. It asserts nothing about
// times; go test -run TestPageAgainstList -v ./processor/ shows them.
func TestPageAgainstList(t *testing.T) {
	const n, parts = 100_000, 3
	stores := fill(n, parts)
	l := newTestLoop(t, parts, stores, 1)
	ctx := context.Background()
	keep := l.keep("pending")

	for range 3 { // the first rounds warm up
		start := time.Now()
		all, err := l.p.List(ctx, keep)
		require.NoError(t, err)
		listTook := time.Since(start)
		listVisits, listMost, listHold := l.reset()

		start = time.Now()
		pg, err := l.p.Page(ctx, keep, Cursor{}, 50)
		require.NoError(t, err)
		pageTook := time.Since(start)
		pageVisits, pageMost, pageHold := l.reset()

		require.Equal(t, listing(stores, "pending")[:50], cursors(pg.Items))
		require.Len(t, all, pg.Matched, "List finds what Page counts")
		require.Equal(t, int64(n), listMost)
		require.LessOrEqual(t, pageMost, int64(pageChunk))
		t.Logf("%d processes, first 50 pending: List %v in %d visit (longest hold %v, %d processes); Page %v in %d visits (longest hold %v, at most %d processes)",
			n, listTook.Round(time.Microsecond), listVisits, listHold.Round(time.Microsecond), listMost,
			pageTook.Round(time.Microsecond), pageVisits, pageHold.Round(time.Microsecond), pageMost)
	}
}

// TestPageWhileTheLoopChangesThings: processes created, changed and
// forgotten between two visits are seen as they are when their piece is
// visited, never twice, and a partition that changes hands during the walk
// is read from the changelog instead, without what memory offered of it.
func TestPageWhileTheLoopChangesThings(t *testing.T) {
	const n, parts = 20_000, 3
	stores := fill(n, parts)
	l := newTestLoop(t, parts, stores, 2)
	ctx := context.Background()
	m := l.p.manager

	// Between visits, the loop commits: a new process on every partition,
	// and every pending process it meets in a chunk's worth confirmed.
	var created atomic.Int64
	l.between = func(visit int) {
		for id, s := range stores {
			key := fmt.Sprintf("new-%d-%d", id, visit)
			s.Put(key, m.Restore([]state.Entry{{ID: "c", Type: state.CustomerConfirmedMenu, Ref: "m", At: state.StampOf(pageT0.Add(-time.Hour))}}))
			created.Add(1)
			i := 0
			for key, proc := range s.All() {
				if i++; i > 100 {
					break
				}
				if proc.State.Status == state.Pending && len(proc.History) == 1 {
					s.Put(key, m.Restore(append(slices.Clone(proc.History),
						state.Entry{ID: "k", Type: state.CatererConfirmedMenu, Ref: proc.History[0].Ref, At: state.StampOf(pageT0)},
						state.Entry{ID: state.CommandID(key), Type: state.ConfirmOrderIssued, Ref: proc.History[0].Ref, At: state.StampOf(pageT0)})))
				}
			}
			s.Commit()
		}
	}
	pg, err := l.p.Page(ctx, l.keep(""), Cursor{}, n)
	require.NoError(t, err)
	seen := map[string]bool{}
	for _, s := range pg.Items {
		require.False(t, seen[s.Key], "%s listed twice", s.Key)
		seen[s.Key] = true
	}
	require.GreaterOrEqual(t, pg.Matched, n, "every process that lived throughout is listed")
	require.LessOrEqual(t, pg.Matched, n+int(created.Load()))
	require.True(t, slices.IsSortedFunc(pg.Items, func(a, b Snapshot[state.Order]) int {
		return cursorOf(a).compare(cursorOf(b))
	}))

	// Partition 2 changes hands once its walk has begun. Its changelog on
	// the broker is empty: what Page says of it is what the changelog says.
	b, err := embedded.StartAnyPort(embedded.Options{})
	require.NoError(t, err)
	t.Cleanup(b.Close)
	l.p.cfg.Brokers = []string{b.Addr()}
	l.p.cfg.Topics.Changelog = "page-test-changelog"
	cl, err := kgo.NewClient(kgo.SeedBrokers(b.Addr()))
	require.NoError(t, err)
	t.Cleanup(cl.Close)
	_, err = kadm.NewClient(cl).CreateTopic(ctx, parts, 1, nil, l.p.cfg.Topics.Changelog)
	require.NoError(t, err)
	var walking2 atomic.Bool
	l.between = func(int) {
		if walking2.Load() {
			delete(l.p.members[2%len(l.p.members)].parts, 2)
		}
	}
	keep := func(s Snapshot[state.Order]) bool {
		walking2.Store(walking2.Load() || s.Partition == 2)
		return true
	}
	pg, err = l.p.Page(ctx, keep, Cursor{}, 10_000)
	require.NoError(t, err)
	require.True(t, walking2.Load())
	require.Equal(t, stores[0].Len()+stores[1].Len(), pg.Matched)
	for _, s := range pg.Items {
		require.NotEqual(t, int32(2), s.Partition)
	}
}
