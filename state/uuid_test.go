package state

import (
	"strings"
	"testing"

	"github.com/google/uuid"
	"pgregory.net/rapid"
)

// TestNameUUIDEqualsLibrary: the hand-written v5 UUID is the library's, for
// any order id, short, long (past the stack buffer) or not UTF-8.
func TestNameUUIDEqualsLibrary(t *testing.T) {
	check := func(t interface{ Fatalf(string, ...any) }, prefix, name string) {
		want := uuid.NewSHA1(commandNamespace, []byte(prefix+name)).String()
		if got := nameUUID(prefix, name); got != want {
			t.Fatalf("nameUUID(%q, %q) = %s, want %s", prefix, name, got, want)
		}
	}
	for _, n := range []string{"", "42", "order-00012345", "café-🍰", "\xff", strings.Repeat("x", 226), strings.Repeat("y", 227), strings.Repeat("z", 5000)} {
		check(t, "ConfirmOrder/", n)
		check(t, "MatchExpired/", n)
	}
	rapid.Check(t, func(rt *rapid.T) {
		check(rt, rapid.SampledFrom([]string{"ConfirmOrder/", "MatchExpired/"}).Draw(rt, "prefix"), rapid.String().Draw(rt, "name"))
	})
}

func BenchmarkCommandID(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		_ = CommandID("order-00012345")
	}
}

func BenchmarkCommandIDLibrary(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		_ = uuid.NewSHA1(commandNamespace, []byte("ConfirmOrder/order-00012345")).String()
	}
}
