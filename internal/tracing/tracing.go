// Package tracing sets up OpenTelemetry tracing from the standard OTEL_*
// environment variables. It is off unless they name an exporter: then the
// service's spans go to it (see processor/tracing.go for which spans).
package tracing

import (
	"context"
	"fmt"
	"strings"

	"go.opentelemetry.io/contrib/exporters/autoexport"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.26.0"
)

// Enabled reports whether the environment turns tracing on, and why:
// OTEL_TRACES_EXPORTER names an exporter other than "none", or an OTLP
// endpoint is set (OTEL_EXPORTER_OTLP_ENDPOINT or ..._TRACES_ENDPOINT).
// OTEL_SDK_DISABLED=true turns it off whatever else is set.
func Enabled(getenv func(string) string) (bool, string) {
	if strings.EqualFold(getenv("OTEL_SDK_DISABLED"), "true") {
		return false, "OTEL_SDK_DISABLED=true"
	}
	switch exp := strings.TrimSpace(getenv("OTEL_TRACES_EXPORTER")); {
	case exp == "none":
		return false, "OTEL_TRACES_EXPORTER=none"
	case exp != "":
		return true, "OTEL_TRACES_EXPORTER=" + exp
	}
	for _, k := range []string{"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_EXPORTER_OTLP_ENDPOINT"} {
		if v := getenv(k); v != "" {
			return true, k + "=" + v
		}
	}
	return false, "no OTEL_TRACES_EXPORTER or OTEL_EXPORTER_OTLP_ENDPOINT"
}

// Setup makes the tracer provider the environment describes: the exporter
// of OTEL_TRACES_EXPORTER (default otlp, its protocol and endpoint from
// OTEL_EXPORTER_OTLP_*), batched, with the service's resource
// (OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES win over the defaults).
// The propagator is W3C trace context and baggage. Shutdown flushes what
// is still buffered.
func Setup(ctx context.Context, service, instance string) (*sdktrace.TracerProvider, propagation.TextMapPropagator, error) {
	exp, err := autoexport.NewSpanExporter(ctx)
	if err != nil {
		return nil, nil, fmt.Errorf("trace exporter from OTEL_TRACES_EXPORTER / OTEL_EXPORTER_OTLP_*: %w", err)
	}
	res, err := resource.New(ctx,
		resource.WithAttributes(semconv.ServiceName(service), semconv.ServiceInstanceID(instance),
			attribute.String("messaging.system", "kafka")),
		resource.WithFromEnv(), resource.WithTelemetrySDK(), resource.WithHost())
	if err != nil {
		return nil, nil, fmt.Errorf("trace resource: %w", err)
	}
	tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(exp), sdktrace.WithResource(res))
	prop := propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{})
	return tp, prop, nil
}
