package state

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"pgregory.net/rapid"
)

// narrow makes a shard's packed histories small and clash-prone: chunks of
// size bytes, and a hash of bits bits, so that a short run exercises
// compaction, records larger than a chunk, and keys whose hashes clash.
func narrow(s *Store[Order], size int, bits uint) {
	for i := range s.shards {
		s.shards[i].packed.size = size
		s.shards[i].packed.mask = 1<<bits - 1
	}
}

// TestPackedStoreAgainstModel runs random transactions (puts, deletes and
// loads, committed or rolled back) against a Store and against a map, and
// checks after each step that the two hold the same processes, and that the
// packed bytes' accounting adds up.
func TestPackedStoreAgainstModel(t *testing.T) {
	proj := Catering().Projection
	types := []string{CustomerConfirmedMenu, CatererConfirmedMenu, CatererDeclinedMenu, ConfirmOrderIssued, MatchExpired}
	rapid.Check(t, func(t *rapid.T) {
		s := NewStore(proj)
		narrow(s, rapid.SampledFrom([]int{256, 1024, 4096}).Draw(t, "chunk"), uint(rapid.SampledFrom([]int{1, 2, 4, 64}).Draw(t, "hash bits")))
		model := map[string][]Entry{}
		staged := map[string][]Entry{} // nil: staged deletion
		names := []string{"", "a", "b", "order-1", "order-2", "ü", strings.Repeat("k", 300)}
		for i := range 40 {
			names = append(names, fmt.Sprintf("k%02d", i))
		}
		keys := rapid.SampledFrom(names)
		names = append(names, "never") // looked up, never written
		entry := rapid.Custom(func(t *rapid.T) Entry {
			typ := rapid.SampledFrom(types).Draw(t, "type")
			if rapid.IntRange(0, 9).Draw(t, "literal") == 0 {
				typ = rapid.StringMatching(`T[a-z]{0,3}`).Draw(t, "other type")
			}
			return Entry{Type: typ, ID: rapid.StringN(0, 20, -1).Draw(t, "id"), Ref: rapid.StringN(0, 12, -1).Draw(t, "ref"),
				At: Stamp(rapid.Int64().Draw(t, "at"))}
		})
		history := rapid.SliceOfN(entry, 0, rapid.SampledFrom([]int{3, 30}).Draw(t, "longest"))
		check := func() {
			view := maps.Clone(model)
			for k, h := range staged {
				if h == nil {
					delete(view, k)
				} else {
					view[k] = h
				}
			}
			for _, k := range names {
				got := s.Get(k)
				want, ok := view[k]
				if !ok {
					require.Nil(t, got, "key %q", k)
					continue
				}
				require.NotNil(t, got, "key %q", k)
				require.Equal(t, normal(want), normal(got.History), "key %q", k)
				require.Equal(t, proj.Fold(got.History), got.State, "key %q: the state is the fold", k)
			}
			all := map[string][]Entry{}
			for k, p := range s.All() {
				_, dup := all[k]
				require.False(t, dup, "All yields %q twice", k)
				all[k] = normal(p.History)
			}
			want := map[string][]Entry{}
			for k, h := range model {
				want[k] = normal(h)
			}
			require.Equal(t, want, all)
			require.Equal(t, len(model), s.Len())
			for _, k := range names {
				var found []string
				for kk := range s.KeysByHash(KeyHash(k)) {
					require.Equal(t, KeyHash(k), KeyHash(kk), "KeysByHash(KeyHash(%q)) yields %q", k, kk)
					found = append(found, kk)
				}
				_, committed := model[k]
				require.Equal(t, committed, slices.Contains(found, k), "KeysByHash finds %q exactly when it is committed", k)
			}
			for i := range s.shards {
				pk := &s.shards[i].packed
				live, dead := 0, 0
				for c, b := range pk.chunks {
					if b != nil {
						live += pk.live[c]
						dead += len(b) - pk.live[c]
					}
				}
				require.Equal(t, pk.liveBytes, live, "shard %d live bytes", i)
				require.Equal(t, pk.deadBytes, dead, "shard %d dead bytes", i)
			}
		}
		for range rapid.IntRange(1, 80).Draw(t, "transactions") {
			for range rapid.IntRange(0, 20).Draw(t, "changes") {
				k := keys.Draw(t, "key")
				switch rapid.IntRange(0, 9).Draw(t, "op") {
				case 0, 1:
					s.Delete(k)
					staged[k] = nil
				case 2:
					h := history.Draw(t, "loaded")
					s.Load(k, h)
					model[k] = h
				case 3:
					s.Unload(k)
					delete(model, k)
				default:
					h := history.Draw(t, "history")
					if len(h) == 0 {
						h = []Entry{}
					}
					s.Put(k, &Process[Order]{History: h, State: proj.Fold(h)})
					staged[k] = h
				}
				verifyPacked(t, s)
				held := map[string]bool{}
				for i := range s.shards {
					for kk := range s.shards[i].packed.all() {
						held[string(kk)] = true
					}
				}
				want := map[string]bool{}
				for kk := range model {
					want[kk] = true
				}
				require.Equal(t, want, held, "the committed keys, after a change to %q", k)
			}
			check()
			if rapid.Bool().Draw(t, "commit") {
				shown := map[string]bool{}
				for i := range Shards {
					s.Shard(i).CommitEach(func(k string, h uint64, old, cur *Process[Order]) {
						require.False(t, shown[k], "CommitEach shows %q twice", k)
						shown[k] = true
						require.Equal(t, KeyHash(k), h, "the hash of %q", k)
						if prev, ok := model[k]; ok {
							require.NotNil(t, old, "%q replaces its committed process", k)
							require.Equal(t, normal(prev), normal(old.History))
						} else {
							require.Nil(t, old, "%q had no committed process", k)
						}
						if want := staged[k]; want == nil {
							require.Nil(t, cur, "%q is deleted", k)
						} else {
							require.Equal(t, normal(want), normal(cur.History))
						}
					})
				}
				require.Len(t, shown, len(staged), "CommitEach shows every staged change")
				verifyPacked(t, s)
				for k, h := range staged {
					if h == nil {
						delete(model, k)
					} else {
						model[k] = h
					}
				}
			} else {
				s.Rollback()
			}
			clear(staged)
			check()
		}
	})
}

// normal makes an empty history comparable with the nil one a decode of
// zero entries may give.
func normal(h []Entry) []Entry {
	if len(h) == 0 {
		return nil
	}
	return slices.Clone(h)
}

// TestPackedCompactionReclaims: rewriting processes many times leaves
// the chunks at a bounded multiple of the live bytes, not growing with the
// number of rewrites.
func TestPackedCompactionReclaims(t *testing.T) {
	s := NewStore(Catering().Projection)
	narrow(s, 1024, 64)
	const keys = 2000
	last := make([]int, keys) // the round that last wrote each key
	for round := range 50 {
		for i := range keys {
			if round > 0 && (i+round)%3 != 0 {
				continue // a third of the keys per round: chunks keep live records among the dead
			}
			last[i] = round
			k := fmt.Sprintf("order-%04d", i)
			h := []Entry{{Type: CustomerConfirmedMenu, ID: fmt.Sprintf("e-%d-%d", round, i), Ref: "menu-a", At: Stamp(round)}}
			s.Put(k, &Process[Order]{History: h})
		}
		s.Commit()
	}
	live := 0
	for i := range s.shards {
		live += s.shards[i].packed.liveBytes
	}
	require.Equal(t, keys, s.Len())
	require.LessOrEqual(t, s.PackedBytes(), 2*live+Shards*2*1024, "chunks %d B for %d live B", s.PackedBytes(), live)
	for k, p := range s.All() {
		var i int
		_, err := fmt.Sscanf(k, "order-%d", &i)
		require.NoError(t, err)
		require.Equal(t, fmt.Sprintf("e-%d-%d", last[i], i), p.History[0].ID, k)
	}
}

// TestPackedManyTypes: past 255 entry types a type is stored with its
// record instead of in the table.
func TestPackedManyTypes(t *testing.T) {
	p := newPacked()
	var h []Entry
	for i := range 300 {
		h = append(h, Entry{Type: fmt.Sprintf("Type%03d", i), ID: fmt.Sprint(i), At: Stamp(i)})
	}
	p.put("k", h)
	r, ok := p.find("k")
	require.True(t, ok)
	require.Equal(t, h, p.historyView(r, nil))
	require.Len(t, p.types, 255)
}

// verifyPacked checks the packed store's own invariants: every key held
// once, and found where the index or the clash map says, in a chunk in use.
func verifyPacked(t require.TestingT, s *Store[Order]) {
	for i := range s.shards {
		pk := &s.shards[i].packed
		seen := map[string]bool{}
		live := make([]int, len(pk.chunks))
		for _, r := range pk.all() {
			live[r.chunk()] += recordLen(pk.at(r))
		}
		for c := range pk.chunks {
			if pk.chunks[c] != nil {
				require.Equal(t, live[c], pk.live[c], "shard %d chunk %d live bytes", i, c)
			}
		}
		for k, r := range pk.all() {
			key := string(k)
			require.False(t, seen[key], "shard %d holds %q twice", i, key)
			seen[key] = true
			fr, ok := pk.find(key)
			require.True(t, ok, "shard %d: %q held but not found", i, key)
			require.Equal(t, r, fr, "shard %d: %q", i, key)
			require.NotNil(t, pk.chunks[r.chunk()], "shard %d: %q in a free chunk", i, key)
		}
	}
}

// TestLoaderEqualsLoad: a Loader fed a changelog (records and tombstones,
// keys written several times, keys whose hashes clash) leaves the store
// that Load and Unload leave, record by record, and gives back the info of
// exactly the newest record of every key that stands.
func TestLoaderEqualsLoad(t *testing.T) {
	proj := Catering().Projection
	rapid.Check(t, func(t *rapid.T) {
		bits := uint(rapid.SampledFrom([]int{1, 2, 4, 64}).Draw(t, "hash bits"))
		size := rapid.SampledFrom([]int{256, 1024, 4096}).Draw(t, "chunk")
		want, got := NewStore(proj), NewStore(proj)
		narrow(want, size, bits)
		narrow(got, size, bits)
		names := []string{"", "a", "b", "order-1", "ü", strings.Repeat("k", 300)}
		for i := range 30 {
			names = append(names, fmt.Sprintf("k%02d", i))
		}
		ld := got.NewLoader(rapid.IntRange(0, 300).Draw(t, "size hint"))
		newest := map[string]LoadInfo{}
		for i := range rapid.IntRange(0, 200).Draw(t, "records") {
			k := rapid.SampledFrom(names).Draw(t, "key")
			if rapid.IntRange(0, 5).Draw(t, "tombstone") == 0 {
				want.Unload(k)
				ld.Remove([]byte(k))
				delete(newest, k)
				continue
			}
			h := []Entry{{Type: CustomerConfirmedMenu, ID: fmt.Sprintf("e%d", i), Ref: "m", At: Stamp(i)}}
			info := LoadInfo{At: int64(i), Meta: uint32(i % 7)}
			want.Load(k, h)
			ld.Add(k, h, info)
			newest[k] = info
		}
		kept := map[LoadInfo]bool{}
		ld.Finish(func(hash uint64, info LoadInfo) {
			require.False(t, kept[info], "info %+v given twice", info)
			var key string
			for k, i := range newest {
				if i == info {
					key = k
				}
			}
			require.Equal(t, KeyHash(key), hash, "the hash given with %+v", info)
			kept[info] = true
		})
		wantKept := map[LoadInfo]bool{}
		for _, info := range newest {
			wantKept[info] = true
		}
		require.Equal(t, wantKept, kept, "Finish gives the newest record of every key that stands")
		require.Equal(t, want.Len(), got.Len())
		all := func(s *Store[Order]) map[string][]Entry {
			out := map[string][]Entry{}
			for k, p := range s.All() {
				out[k] = normal(p.History)
			}
			return out
		}
		require.Equal(t, all(want), all(got))
		for _, k := range names {
			require.Equal(t, want.Get(k) == nil, got.Get(k) == nil, "key %q", k)
		}
		verifyPacked(t, got)
		for i := range got.shards {
			pk := &got.shards[i].packed
			live := 0
			for c, b := range pk.chunks {
				if b != nil {
					live += pk.live[c]
				}
			}
			require.Equal(t, pk.liveBytes, live, "shard %d live bytes", i)
		}
		// The loaded store works as any other: a commit on top of it.
		for _, k := range names[:5] {
			got.Put(k, &Process[Order]{History: []Entry{{Type: MatchExpired, ID: "x"}}})
		}
		got.Commit()
		verifyPacked(t, got)
	})
}
