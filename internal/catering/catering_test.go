package catering

import (
	"errors"
	"testing"
	"time"
	"unsafe"

	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/catering-match/catering-match/processor"
	"github.com/catering-match/catering-match/state"
	"github.com/catering-match/catering-match/topics"
)

func TestDecode(t *testing.T) {
	v := []byte(`{"id":"e-1","type":"CatererConfirmedMenu","order_id":"42","menu_id":"menu-a","occurred_at":"2026-12-02T01:00:00Z"}`)
	key, e, err := decode(&kgo.Record{Key: []byte("42"), Value: v})
	require.NoError(t, err)
	require.Equal(t, "42", key)
	require.Equal(t, state.Entry{ID: "e-1", Type: state.CatererConfirmedMenu, Ref: "menu-a"}, e)
	require.Equal(t, unsafe.StringData(state.CatererConfirmedMenu), unsafe.StringData(e.Type), "the type is the package constant (interned by the decoder)")

	_, _, err = decode(&kgo.Record{Key: []byte("41"), Value: v})
	var m *topics.MalformedError
	require.True(t, errors.As(err, &m), "%v", err)
	require.Equal(t, topics.MalformedKeyMismatch, m.Kind)

	_, e, err = decode(&kgo.Record{Key: []byte("42"), Value: []byte(`{"id":"e-2","type":"SomethingElse","order_id":"42"}`)})
	require.NoError(t, err, "other types are skipped by the engine, not dead-lettered")
	require.Equal(t, state.Entry{ID: "e-2", Type: "SomethingElse"}, e)
}

func TestEmit(t *testing.T) {
	at := time.Date(2026, 12, 2, 1, 0, 0, 0, time.UTC)
	cause := state.Entry{ID: "e-9", Type: state.CustomerConfirmedMenu, Ref: "menu-a"}
	rs := emit(processor.Decision[state.Order]{Key: "42", Cause: &cause,
		Entry: state.Entry{ID: state.CommandID("42"), Type: state.ConfirmOrderIssued, Ref: "menu-a", At: at}})
	require.Len(t, rs, 1)
	require.Equal(t, "42", string(rs[0].Key))
	require.Equal(t, []kgo.RecordHeader{{Key: "type", Value: []byte("ConfirmOrder")}}, rs[0].Headers)
	c, err := topics.DecodeConfirmOrder(rs[0].Value)
	require.NoError(t, err)
	require.Equal(t, topics.NewConfirmOrder("42", "menu-a", "e-9", at), c)

	require.Empty(t, emit(processor.Decision[state.Order]{Key: "42",
		Entry: state.Entry{ID: "x", Type: state.MatchExpired, At: at}}), "an expiry emits nothing")
}
