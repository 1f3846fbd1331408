package main

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// Usage errors are found before any broker is contacted: none runs here.
func TestUsageErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		want []string // in stderr
	}{
		{"no command", nil, []string{"USAGE", "publish", "tail", "state"}},
		{"unknown command", []string{"pubish"}, []string{`unknown command "pubish"`, "publish, tail, state, verify, bench, probe, redrive or replay"}},
		{"unknown flag", []string{"publish", "--ordr", "1"}, []string{"-ordr"}},
		{"unknown flag after kind", []string{"publish", "customer-confirmed", "--ordr", "1"}, []string{"-ordr"}},
		{"missing order", []string{"publish", "customer-confirmed"}, []string{"missing --order", "--order 42", "catering publish -h"}},
		{"unknown kind", []string{"publish", "customer-confirm", "--order", "1"}, []string{`"customer-confirm"`, "customer-confirmed, caterer-confirmed or caterer-declined", "--type"}},
		{"kind and type", []string{"publish", "caterer-confirmed", "--type", "X", "--order", "1"}, []string{"--type X"}},
		{"data not an object", []string{"publish", "customer-confirmed", "--order", "1", "--data", "[1]"}, []string{`--data "[1]" is not a JSON object`}},
		{"order too long", []string{"publish", "customer-confirmed", "--order", strings.Repeat("x", 129)}, []string{"--order is 129 bytes", "128"}},
		{"order with file", []string{"publish", "--file", "x.jsonl", "--order", "1"}, []string{"--order is for a single event"}},
		{"key without raw", []string{"publish", "--file", "x.jsonl", "--key", "k"}, []string{"--key applies only with --raw"}},
		{"missing file", []string{"publish", "--file", "/nonexistent/x.jsonl"}, []string{"--file /nonexistent/x.jsonl"}},
		{"nothing to publish", []string{"publish"}, []string{"nothing to publish", "--file"}},
		{"bad brokers", []string{"publish", "customer-confirmed", "--order", "1", "--brokers", "localhost"}, []string{`--brokers "localhost"`, "host:port"}},
		{"bad timeout", []string{"publish", "customer-confirmed", "--order", "1", "--timeout", "0s"}, []string{"--timeout 0s must be positive"}},
		{"tail argument", []string{"tail", "extra"}, []string{`unexpected arguments ["extra"]`}},
		{"tail negative max", []string{"tail", "--max", "-1"}, []string{"--max -1"}},
		{"state without order", []string{"state", "--json"}, []string{"missing ORDER", "catering state 42"}},
		{"state two orders", []string{"state", "1", "2"}, []string{"give one order id"}},
		{"state bad timeout", []string{"state", "1", "--match-timeout", "-1h"}, []string{"--match-timeout -1h0m0s must be positive"}},
		{"bad log level", []string{"state", "1", "--log-level", "loud"}, []string{`log level "loud"`}},
		{"probe bad URL", []string{"probe", "127.0.0.1:8080/healthz"}, []string{`URL "127.0.0.1:8080/healthz"`, "http://127.0.0.1:8080/healthz"}},
		{"probe two URLs", []string{"probe", "http://a/", "http://b/"}, []string{"at most one URL"}},
		{"probe bad timeout", []string{"probe", "--timeout", "0s"}, []string{"--timeout 0s must be positive"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := runCmd(t, nil, tc.args...)
			require.Equal(t, 2, r.code)
			require.Empty(t, r.stdout)
			for _, w := range tc.want {
				require.Contains(t, r.stderr, w)
			}
		})
	}
}

func TestUsageErrorFromEnvironment(t *testing.T) {
	t.Setenv("CATERING_MAX", "many")
	r := runCmd(t, nil, "tail")
	require.Equal(t, 2, r.code)
	require.Contains(t, r.stderr, "CATERING_MAX")
}

func TestHelpListsEnvironmentVariables(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want []string
	}{
		{[]string{"-h"}, []string{"CATERING_<FLAG>", "CATERING_BROKERS", "publish", "tail", "state"}},
		{[]string{"help"}, []string{"CATERING_<FLAG>", "COMMANDS"}},
		{[]string{"publish", "--help"}, []string{"--brokers BROKERS", "CATERING_BROKERS", "CATERING_EVENTS_TOPIC", "--order ID", "CATERING_ORDER", "(default 127.0.0.1:9092)"}},
		{[]string{"publish", "customer-confirmed", "-h"}, []string{"CATERING_EVENTS_TOPIC"}},
		{[]string{"tail", "-h"}, []string{"CATERING_COMMANDS_TOPIC", "CATERING_FROM_BEGINNING", "CATERING_FOLLOW", "(default true)"}},
		{[]string{"state", "-h"}, []string{"CATERING_CHANGELOG_TOPIC", "CATERING_MATCH_TIMEOUT", "(default 336h0m0s)", "CATERING_JSON"}},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			r := runCmd(t, nil, tc.args...)
			require.Equal(t, 0, r.code)
			for _, w := range tc.want {
				require.Contains(t, r.stderr, w)
			}
			require.Equal(t, 1, strings.Count(r.stderr, "USAGE"), "help printed once")
		})
	}
}
