package state

import (
	"testing"

	"github.com/stretchr/testify/require"
	"pgregory.net/rapid"
)

// TestIndexAgainstModel runs random sets, deletes and lookups against an
// index and a map. The hashes come from a small pool whose top bits (a
// slot's home) often agree, and include 0 and 1 (filed alike), so that
// long probe runs, wrap-around at the end of the table, growth and
// backward-shift deletion are all exercised; after every step each hash
// held must be found from its home without crossing an empty slot.
func TestIndexAgainstModel(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		x := newIndex(rapid.IntRange(0, 40).Draw(t, "size hint"))
		model := map[uint64]ref{}
		pool := []uint64{0, 1, 2, ^uint64(0), ^uint64(0) - 1}
		for i := range 60 {
			top := uint64(rapid.IntRange(0, 7).Draw(t, "top")) << 61
			pool = append(pool, top|uint64(i+3))
		}
		hashes := rapid.SampledFrom(pool)
		for step := range rapid.IntRange(1, 300).Draw(t, "steps") {
			h := hashes.Draw(t, "hash")
			switch rapid.IntRange(0, 3).Draw(t, "op") {
			case 0, 1:
				r := ref(step + 1)
				x.set(h, r)
				model[filed(h)] = r
			case 2:
				x.del(h)
				delete(model, filed(h))
			default:
				got, ok := x.get(h)
				want, had := model[filed(h)]
				require.Equal(t, had, ok, "get %x", h)
				require.Equal(t, want, got, "get %x", h)
			}
			require.Equal(t, len(model), x.Len())
			seen := map[uint64]ref{}
			mask := len(x.slots) - 1
			for i, s := range x.slots {
				if s.hash == 0 {
					continue
				}
				seen[s.hash] = s.at
				for j := int(s.hash >> x.shift); j != i; j = (j + 1) & mask {
					require.NotZero(t, x.slots[j].hash, "slot %d holds %x, but its probe from home %d crosses an empty slot %d", i, s.hash, s.hash>>x.shift, j)
				}
			}
			require.Equal(t, model, seen)
			require.LessOrEqual(t, x.Len(), maxLoad(len(x.slots)))
		}
	})
}

// TestIndexGrowsInOrder: hashes inserted in sorted order land in sorted
// slots, and a doubling keeps them so (the property a restore's bulk load
// and the growth rely on for memory order).
func TestIndexGrowsInOrder(t *testing.T) {
	x := newIndex(0)
	const n = 5000
	for i := range n {
		x.set(uint64(i+1)*(^uint64(0)/n), ref(i))
	}
	require.Equal(t, n, x.Len())
	var last uint64
	for h := range x.all {
		require.Greater(t, h, last, "slots out of hash order")
		last = h
	}
	for i := range n {
		r, ok := x.get(uint64(i+1) * (^uint64(0) / n))
		require.True(t, ok)
		require.Equal(t, ref(i), r)
	}
}
