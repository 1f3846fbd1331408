package tracing

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestEnabled(t *testing.T) {
	for _, tc := range []struct {
		env  map[string]string
		want bool
	}{
		{nil, false},
		{map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318"}, true},
		{map[string]string{"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://127.0.0.1:4318/v1/traces"}, true},
		{map[string]string{"OTEL_TRACES_EXPORTER": "console"}, true},
		{map[string]string{"OTEL_TRACES_EXPORTER": "none", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://x:4318"}, false},
		{map[string]string{"OTEL_SDK_DISABLED": "true", "OTEL_TRACES_EXPORTER": "otlp"}, false},
		{map[string]string{"OTEL_SERVICE_NAME": "x"}, false}, // names no exporter
	} {
		on, why := Enabled(func(k string) string { return tc.env[k] })
		require.Equal(t, tc.want, on, "%v: %s", tc.env, why)
		require.NotEmpty(t, why)
	}
}

func TestSetupConsole(t *testing.T) {
	t.Setenv("OTEL_TRACES_EXPORTER", "console")
	t.Setenv("OTEL_SERVICE_NAME", "from-env")
	tp, prop, err := Setup(context.Background(), "catering-match", "i1")
	require.NoError(t, err)
	require.NotNil(t, prop)
	require.Contains(t, prop.Fields(), "traceparent")
	require.NoError(t, tp.Shutdown(context.Background()))

	t.Setenv("OTEL_TRACES_EXPORTER", "zipkinish")
	_, _, err = Setup(context.Background(), "catering-match", "i1")
	require.ErrorContains(t, err, "OTEL_TRACES_EXPORTER")
}
