package topics

import (
	"testing"
	"time"

	"github.com/catering-match/catering-match/state"
)

// benchEvent is a typical input record: a caterer's confirmation with
// UUID-sized ids and an occurred_at, as upstream producers write them.
func benchEvent(b *testing.B) (key, value []byte) {
	b.Helper()
	v, err := EncodeEvent(Event{
		ID:         "0b6c5f5e-6b1e-4c55-9a52-8f1f3c1e2b7a",
		Type:       state.CatererConfirmedMenu,
		OrderID:    "order-00012345",
		MenuID:     "menu-vegetarian-3",
		OccurredAt: "2026-11-25T10:00:00.123456789Z",
	})
	if err != nil {
		b.Fatal(err)
	}
	return []byte("order-00012345"), v
}

// benchHistory is the history of a pending process with two events, the
// most common live process.
func benchHistory() []state.Entry {
	at := time.Date(2026, 11, 25, 10, 0, 0, 123456789, time.UTC)
	return []state.Entry{
		{ID: "0b6c5f5e-6b1e-4c55-9a52-8f1f3c1e2b7a", Type: state.CustomerConfirmedMenu, Ref: "menu-vegetarian-3", At: state.StampOf(at)},
		{ID: "9d1f2a3b-7c4e-4f60-8a21-5e6b7c8d9e0f", Type: state.CatererConfirmedMenu, Ref: "menu-classic-1", At: state.StampOf(at.Add(time.Minute))},
	}
}

func BenchmarkDecodeEvent(b *testing.B) {
	key, value := benchEvent(b)
	b.SetBytes(int64(len(value)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := DecodeEvent(key, value); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkEncodeProcess(b *testing.B) {
	h := benchHistory()
	b.ReportAllocs()
	for b.Loop() {
		if v := EncodeProcess("order-00012345", h); len(v) == 0 {
			b.Fatal("empty record")
		}
	}
}

func BenchmarkDecodeProcess(b *testing.B) {
	key := []byte("order-00012345")
	value := EncodeProcess(string(key), benchHistory())
	b.SetBytes(int64(len(value)))
	b.ReportAllocs()
	for b.Loop() {
		if _, h, err := DecodeProcess(key, value); err != nil || len(h) != 2 {
			b.Fatal(err)
		}
	}
}

func BenchmarkDecodeProcessView(b *testing.B) {
	key := []byte("order-00012345")
	value := EncodeProcess(string(key), benchHistory())
	b.SetBytes(int64(len(value)))
	b.ReportAllocs()
	var h []state.Entry
	for b.Loop() {
		var err error
		if _, h, err = DecodeProcessView(key, value, h[:0]); err != nil || len(h) != 2 {
			b.Fatal(err)
		}
	}
}
