package processor

import (
	"context"
	"slices"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/plugin/kotel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
)

// tracing is the processor's OpenTelemetry side, nil when it is off
// (Config.TracerProvider unset): then nothing is traced and no header is
// read or written.
//
//   - Each input record gets kotel's "receive" span, a child of the span
//     its producer injected (W3C traceparent), in the record's Context.
//   - Each transaction is a span, linked to its input records' spans.
//   - A record a decision emits carries the traceparent of the record that
//     caused it (for ConfirmOrder: the event that completed the match), so
//     the upstream producer's trace runs on to the command's consumer; a
//     timer's decision carries its transaction's span.
//   - Nothing else produced is touched: changelog records have no trace
//     headers, and dead letters keep their original headers byte for
//     byte. (kotel's produce hook would inject into every record, so it is
//     not installed.)
type tracing struct {
	tracer     trace.Tracer
	propagator propagation.TextMapPropagator
	kotel      *kotel.Tracer
}

// maxLinks bounds the links of a transaction span (the SDK's default limit).
const maxLinks = 128

func newTracing(cfg Config) *tracing {
	if cfg.TracerProvider == nil {
		return nil
	}
	prop := cfg.Propagator
	if prop == nil {
		prop = propagation.TraceContext{}
	}
	return &tracing{
		tracer:     cfg.TracerProvider.Tracer("github.com/catering-match/catering-match/processor"),
		propagator: prop,
		kotel: kotel.NewTracer(kotel.TracerProvider(cfg.TracerProvider), kotel.TracerPropagator(prop),
			kotel.ConsumerGroup(cfg.Group)),
	}
}

// fetchHooks are kotel's consumer hooks alone.
type fetchHooks struct{ t *kotel.Tracer }

func (h fetchHooks) OnFetchRecordBuffered(r *kgo.Record)           { h.t.OnFetchRecordBuffered(r) }
func (h fetchHooks) OnFetchRecordUnbuffered(r *kgo.Record, b bool) { h.t.OnFetchRecordUnbuffered(r, b) }

// startTxn starts the span of b's transaction, linked to its input records.
func (t *tracing) startTxn(b interface{ inputs(func(*kgo.Record) bool) }) (context.Context, trace.Span) {
	var links []trace.Link
	b.inputs(func(r *kgo.Record) bool {
		if r.Context != nil {
			if sc := trace.SpanContextFromContext(r.Context); sc.IsValid() {
				links = append(links, trace.Link{SpanContext: sc})
			}
		}
		return len(links) < maxLinks
	})
	return t.tracer.Start(context.Background(), "catering-match transaction",
		trace.WithSpanKind(trace.SpanKindConsumer), trace.WithLinks(links...))
}

// endTxn ends a transaction span with its outcome.
func endTxn(span trace.Span, outcome string, records, writes int, err error) {
	span.SetAttributes(
		attribute.String("catering_match.transaction.outcome", outcome),
		attribute.Int("catering_match.transaction.input_records", records),
		attribute.Int("catering_match.transaction.writes", writes),
	)
	if err != nil {
		span.SetStatus(codes.Error, err.Error())
	}
	span.End()
}

// inject writes the trace context of cause (the record that caused the
// decision), or of txn when there is none, into an emitted record.
func (t *tracing) inject(txn context.Context, cause *kgo.Record, out *kgo.Record) {
	ctx := txn
	if cause != nil && cause.Context != nil && trace.SpanContextFromContext(cause.Context).IsValid() {
		ctx = cause.Context
	}
	if !trace.SpanContextFromContext(ctx).IsValid() {
		return
	}
	// The emitter's header slice may be shared: append to a copy.
	out.Headers = slices.Clip(out.Headers)
	t.propagator.Inject(ctx, kotel.NewRecordCarrier(out))
}
