package main

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kfake"
)

func TestUsageErrors(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--partitions", "0"}, "--partitions 0"},
		{[]string{"--replication-factor", "0"}, "--replication-factor 0"},
		{[]string{"--brokers", "localhost"}, `broker "localhost" has no port`},
		{[]string{"--match-timeout", "-1h"}, "match timeout -1h0m0s must be positive"},
		{[]string{"--max-history", "1"}, "max history 1"},
		{[]string{"--session-timeout", "1s"}, "session timeout 1s"},
		{[]string{"--instance-id", "a b"}, `instance id "a b"`},
		{[]string{"--events-topic", "x", "--dlq-topic", "x"}, "each topic needs its own name"},
		{[]string{"--tls"}, "need --brokers"},
		{[]string{"--sasl-mechanism", "MD5", "--brokers", "127.0.0.1:1"}, "MD5"},
		{[]string{"--log-level", "loud", "--brokers", "127.0.0.1:1"}, `log level "loud"`},
		{[]string{"--max-poll-records", "500", "--max-batch-records", "100"}, "max batch records 100 must be at least max poll records 500"},
		{[]string{"--workers", "-1"}, "workers -1 must not be negative"},
		{[]string{"extra"}, `unexpected argument "extra"`},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			var stderr bytes.Buffer
			code := run(t.Context(), tc.args, &stderr)
			require.Equal(t, 2, code, stderr.String())
			require.Contains(t, stderr.String(), tc.want)
		})
	}
}

func TestHelpListsEnvVars(t *testing.T) {
	var stderr bytes.Buffer
	require.Equal(t, 0, run(t.Context(), []string{"--help"}, &stderr))
	for _, want := range []string{"CATERING_BROKERS", "-brokers", "-match-timeout", "-sasl-mechanism", "-tls-ca-file"} {
		require.Contains(t, stderr.String(), want)
	}
	require.NotContains(t, strings.ToLower(stderr.String()), "-sasl-password ", "no password flag: secrets come from the environment or a file")
}

// A wrong password stops the service at once with a message that says what
// to fix, and never prints the password.
func TestWrongPasswordFailsFast(t *testing.T) {
	var c *kfake.Cluster
	var err error
	for range 20 {
		c, err = kfake.NewCluster(kfake.NumBrokers(1), kfake.Ports(20000+rand.IntN(12000)),
			kfake.EnableSASL(), kfake.Superuser("SCRAM-SHA-256", "svc", "right-secret"))
		if err == nil {
			break
		}
	}
	require.NoError(t, err)
	defer c.Close()
	t.Setenv("CATERING_SASL_PASSWORD", "wrong-secret")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var stderr bytes.Buffer
	start := time.Now()
	code := run(ctx, []string{"--brokers", c.ListenAddrs()[0], "--sasl-mechanism", "SCRAM-SHA-256", "--sasl-user", "svc"}, &stderr)
	require.Equal(t, 1, code, stderr.String())
	require.Contains(t, stderr.String(), "authentication failed")
	require.Contains(t, stderr.String(), `\"svc\"`)
	require.NotContains(t, stderr.String(), "wrong-secret")
	t.Logf("failed after %v: %s", time.Since(start).Round(time.Millisecond), firstLine(stderr.String(), "cannot connect"))
}

func firstLine(s, with string) string {
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, with) {
			return l
		}
	}
	return fmt.Sprintf("(no line with %q)", with)
}
