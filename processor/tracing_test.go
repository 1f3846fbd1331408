package processor_test

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/plugin/kotel"
	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/catering-match/catering-match/state"
)

// TestTracing: with a tracer provider, the ConfirmOrder carries the W3C
// traceparent of the event that completed the match (its trace, not the
// first event's), each transaction is a span linked to its input records'
// spans, and a dead letter's headers are the original ones, byte for byte,
// then the dlq-* headers. Upstream spans come from a producer's own tracer.
func TestTracing(t *testing.T) {
	b := startBroker(t, "")
	names := testNames(t)
	cfg := testConfig(t, b.Addr(), names)
	spans := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(spans))
	defer tp.Shutdown(context.Background())
	prop := propagation.TraceContext{}
	cfg.TracerProvider, cfg.Propagator = tp, prop
	r := start(t, cfg)
	st := r.p.Stats()

	// The upstream producer: its own provider, a span per event.
	upstream := sdktrace.NewTracerProvider().Tracer("upstream")
	traced := func(rec *kgo.Record) trace.SpanContext {
		ctx, span := upstream.Start(context.Background(), "publish")
		defer span.End()
		prop.Inject(ctx, kotel.NewRecordCarrier(rec))
		return span.SpanContext()
	}
	first := event("e1", state.CustomerConfirmedMenu, "42", "menu-a")
	first.Topic = names.Events
	firstTrace := traced(first)
	completing := event("e2", state.CatererConfirmedMenu, "42", "menu-a")
	completing.Topic = names.Events
	completingTrace := traced(completing)
	require.NotEqual(t, firstTrace.TraceID(), completingTrace.TraceID())

	// A malformed record with headers of its own, the traceparent among them.
	bad := &kgo.Record{Topic: names.Events, Key: []byte("43"), Value: []byte("{not json"),
		Headers: []kgo.RecordHeader{{Key: "origin", Value: []byte("test")}, {Key: "bin", Value: []byte{0, 1, 2, 255}}}}
	traced(bad)
	bad.Headers = append(bad.Headers, kgo.RecordHeader{Key: "empty", Value: []byte{}})
	original := append([]kgo.RecordHeader(nil), bad.Headers...)
	for i := range original {
		original[i].Value = bytes.Clone(original[i].Value)
	}

	produce(t, b.Addr(), first)
	eventually(t, 30*time.Second, "first event applied", func() bool { return st.Applied.Load() == 1 })
	produce(t, b.Addr(), completing, bad)
	eventually(t, 30*time.Second, "match and dead letter", func() bool {
		return st.CommandsIssued.Load() == 1 && st.DeadLettered.Load() == 1
	})

	cmds := readAll(t, b.Addr(), names.Commands)
	require.Len(t, cmds, 1)
	cmdCtx := prop.Extract(context.Background(), kotel.NewRecordCarrier(cmds[0]))
	cmdSpan := trace.SpanContextFromContext(cmdCtx)
	require.True(t, cmdSpan.IsValid(), "the command has a traceparent: %v", cmds[0].Headers)
	require.Equal(t, completingTrace.TraceID(), cmdSpan.TraceID(), "the command continues the completing event's trace")

	dlq := readAll(t, b.Addr(), names.DLQ)
	require.Len(t, dlq, 1)
	require.GreaterOrEqual(t, len(dlq[0].Headers), len(original))
	require.Equal(t, original, dlq[0].Headers[:len(original)], "the original headers, byte for byte")
	var rest []string
	for _, h := range dlq[0].Headers[len(original):] {
		rest = append(rest, h.Key)
	}
	require.Equal(t, []string{"dlq-reason", "dlq-topic", "dlq-partition", "dlq-offset"}, rest)

	changelog := readAll(t, b.Addr(), names.Changelog)
	for _, rec := range changelog {
		for _, h := range rec.Headers {
			require.NotEqual(t, "traceparent", h.Key, "changelog records carry no trace context")
		}
	}

	// The transactions are spans, linked to their input records' spans,
	// which continue the upstream traces.
	r.stop(t)
	linked := map[trace.TraceID]bool{}
	txns := 0
	for _, s := range spans.GetSpans() {
		if s.Name != "catering-match transaction" {
			continue
		}
		txns++
		outcome := ""
		for _, a := range s.Attributes {
			if a.Key == "catering_match.transaction.outcome" {
				outcome = a.Value.AsString()
			}
		}
		require.NotEmpty(t, outcome, "a transaction span has its outcome")
		for _, l := range s.Links {
			linked[l.SpanContext.TraceID()] = true
		}
	}
	require.Positive(t, txns)
	require.True(t, linked[firstTrace.TraceID()], "a transaction span links the first event's trace")
	require.True(t, linked[completingTrace.TraceID()], "a transaction span links the completing event's trace")
}

// TestTracingOff: without a tracer provider nothing is written: the
// command has only the headers the definition gives it.
func TestTracingOff(t *testing.T) {
	b := startBroker(t, "")
	names := testNames(t)
	r := start(t, testConfig(t, b.Addr(), names))
	st := r.p.Stats()
	in := event("e1", state.CustomerConfirmedMenu, "42", "menu-a")
	in.Topic = names.Events
	prop := propagation.TraceContext{}
	ctx, span := sdktrace.NewTracerProvider().Tracer("upstream").Start(context.Background(), "publish")
	prop.Inject(ctx, kotel.NewRecordCarrier(in))
	span.End()
	in2 := event("e2", state.CatererConfirmedMenu, "42", "menu-a")
	in2.Topic = names.Events
	produce(t, b.Addr(), in, in2)
	eventually(t, 30*time.Second, "the match", func() bool { return st.CommandsIssued.Load() == 1 })
	cmds := readAll(t, b.Addr(), names.Commands)
	require.Len(t, cmds, 1)
	for _, h := range cmds[0].Headers {
		require.NotEqual(t, "traceparent", h.Key)
	}
}
