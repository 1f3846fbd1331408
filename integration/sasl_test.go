package integration

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl/scram"
)

// The SCRAM user integration/kafka/kafka.sh creates at format time.
const (
	saslUser     = "catering"
	saslPassword = "catering-secret"
	// defaultSASLBrokers is kafka.sh's default SASL_PLAINTEXT listener.
	defaultSASLBrokers = "127.0.0.1:19094"
)

// saslBrokers returns the SASL_PLAINTEXT listener of the suite's broker:
// KAFKA_SASL_BROKERS, or, on a real broker without it (`make test-kafka`),
// kafka.sh's default 127.0.0.1:19094 when it accepts a connection.
// derived reports the latter.
func saslBrokers(t *testing.T) (addr string, derived bool) {
	t.Helper()
	if v := strings.TrimSpace(os.Getenv("KAFKA_SASL_BROKERS")); v != "" {
		// Tolerate a value with a trailing comment, as kafka.sh prints it.
		return strings.Fields(v)[0], false
	}
	if env.kind != "real" {
		t.Skipf("KAFKA_SASL_BROKERS is unset and the suite runs on the %s broker: "+
			"start a real broker with `make kafka-up` (it prints KAFKA_SASL_BROKERS=...) and run with KAFKA_BROKERS and KAFKA_SASL_BROKERS", env.kind)
	}
	c, err := net.DialTimeout("tcp", defaultSASLBrokers, 2*time.Second)
	if err != nil {
		t.Skipf("KAFKA_SASL_BROKERS is unset and %s does not answer (%v): "+
			"`make kafka-up` starts a broker with a SCRAM listener and prints KAFKA_SASL_BROKERS=...", defaultSASLBrokers, err)
	}
	c.Close()
	return defaultSASLBrokers, true
}

// TestSASLRealBroker runs the service and the client on the SCRAM listener
// of a real broker started by integration/kafka/kafka.sh (user catering).
// Records are published and read back through the suite's PLAINTEXT
// listener: the broker has no authorizer, both listeners see the same data.
func TestSASLRealBroker(t *testing.T) {
	addr, derived := saslBrokers(t)
	t.Logf("SASL_PLAINTEXT listener %s (derived: %v), PLAINTEXT %s", addr, derived, env.addr)
	checkSameCluster(t, addr, derived)

	// Set by the SCRAM-SHA-256 case for the client case: a commands topic
	// holding one ConfirmOrder for order.
	var cmdsTopic, matchedOrder string

	t.Run("SCRAM-SHA-256 password from env", func(t *testing.T) {
		s := newSuite(t, 3)
		order := runMatchedOrder(t, s, addr, "SCRAM-SHA-256",
			[]string{"CATERING_SASL_PASSWORD=" + saslPassword})
		cmdsTopic, matchedOrder = s.cmds, order
	})

	t.Run("SCRAM-SHA-512 password file", func(t *testing.T) {
		s := newSuite(t, 3)
		file := filepath.Join(t.TempDir(), "password")
		require.NoError(t, os.WriteFile(file, []byte(saslPassword+"\n"), 0o600))
		runMatchedOrder(t, s, addr, "SCRAM-SHA-512", nil, "--sasl-password-file", file)
	})

	t.Run("wrong password", func(t *testing.T) {
		for _, mech := range []string{"SCRAM-SHA-256", "SCRAM-SHA-512"} {
			s := newSuite(t, 3)
			wrong := fmt.Sprintf("not-the-password-%d", time.Now().UnixNano())
			t0 := time.Now()
			svc := s.startEnv("a", []string{"CATERING_SASL_PASSWORD=" + wrong}, saslFlags(addr, mech)...)
			select {
			case <-svc.done:
			case <-time.After(20 * time.Second):
				svc.kill()
				t.Fatalf("%s: the service did not exit within 20s on a wrong password", mech)
			}
			took := time.Since(t0)
			t.Logf("%s: exited after %v: %v", mech, took.Round(time.Millisecond), svc.err)
			require.Less(t, took, 20*time.Second)
			var ee *exec.ExitError
			require.True(t, errors.As(svc.err, &ee), "%s: exit: %v", mech, svc.err)
			require.Equal(t, 1, ee.ExitCode(), "%s: exit code", mech)
			out := svc.out.String()
			require.Contains(t, out, `authentication failed for user \"catering\"`, "%s: log", mech)
			require.Contains(t, out, mech)
			require.NotContains(t, out, wrong, "%s: the log shows the password", mech)
			require.NotContains(t, out, saslPassword)
		}
	})

	t.Run("client tail", func(t *testing.T) {
		if cmdsTopic == "" {
			t.Skip("needs the commands written by the SCRAM-SHA-256 case, which failed")
		}
		tail := []string{"tail", "--from-beginning", "--follow=false", "--commands-topic", cmdsTopic}

		out, errOut, err := runClientEnv(t, []string{"CATERING_SASL_PASSWORD=" + saslPassword},
			append(tail, saslFlags(addr, "SCRAM-SHA-256")...)...)
		require.NoError(t, err, "tail with SCRAM-SHA-256: %s", errOut)
		requireOneConfirm(t, out, matchedOrder)

		file := filepath.Join(t.TempDir(), "password")
		require.NoError(t, os.WriteFile(file, []byte(saslPassword), 0o600))
		out, errOut, err = runClientEnv(t, nil,
			append(tail, append(saslFlags(addr, "SCRAM-SHA-512"), "--sasl-password-file", file)...)...)
		require.NoError(t, err, "tail with SCRAM-SHA-512: %s", errOut)
		requireOneConfirm(t, out, matchedOrder)

		wrong := fmt.Sprintf("not-the-password-%d", time.Now().UnixNano())
		t0 := time.Now()
		out, errOut, err = runClientEnv(t, []string{"CATERING_SASL_PASSWORD=" + wrong},
			append(tail, saslFlags(addr, "SCRAM-SHA-256")...)...)
		t.Logf("tail with a wrong password: %v after %v; stderr: %s", err, time.Since(t0).Round(time.Millisecond), strings.TrimSpace(errOut))
		require.Error(t, err, "tail with a wrong password succeeded: %s", out)
		var ee *exec.ExitError
		require.True(t, errors.As(err, &ee))
		require.Equal(t, 1, ee.ExitCode())
		require.Empty(t, out)
		// A clear message: who failed to authenticate, how, and what to check.
		require.Contains(t, errOut, `authentication failed for user "catering" with SCRAM-SHA-256`)
		require.Contains(t, errOut, "CATERING_SASL_PASSWORD")
		require.NotContains(t, errOut, wrong, "stderr shows the password")
		require.Less(t, time.Since(t0), 30*time.Second)
	})
}

// saslFlags are the SASL flags of the service and the client; --brokers
// comes after serviceArgs' and wins.
func saslFlags(addr, mech string) []string {
	return []string{"--brokers", addr, "--sasl-mechanism", mech, "--sasl-user", saslUser}
}

// runMatchedOrder starts one instance on the SASL listener, waits for
// /readyz, publishes one matching order and checks its ConfirmOrder
// (read_committed). It returns the order id.
func runMatchedOrder(t *testing.T, s *suite, addr, mech string, childEnv []string, extra ...string) string {
	t.Helper()
	opsAddr := freeAddr(t)
	flags := append(saslFlags(addr, mech), "--http-addr", opsAddr)
	svc := s.startEnv("a", childEnv, append(flags, extra...)...)
	waitReady(t, svc, "http://"+opsAddr+"/readyz", 2*time.Minute)

	order := s.id + "-o1"
	s.publish([]input{
		genEvent{ID: order + "-e1", Type: customerConfirmed, Order: order, Menu: "menu-a"}.record(),
		genEvent{ID: order + "-e2", Type: catererConfirmed, Order: order, Menu: "menu-a"}.record(),
	})
	s.waitProcessed(2*time.Minute, svc)
	recs := s.readTopic(s.cmds)
	require.Len(t, recs, 1, "ConfirmOrder commands")
	var c command
	require.NoError(t, json.Unmarshal(recs[0].Value, &c))
	require.Equal(t, "ConfirmOrder", c.Type)
	require.Equal(t, order, c.OrderID)
	require.Equal(t, "menu-a", c.MenuID)
	require.Equal(t, order+"-e2", c.CausationID)
	require.Equal(t, expectedCommandID(order), c.CommandID)
	require.Equal(t, order, string(recs[0].Key))
	require.NotContains(t, svc.out.String(), saslPassword)
	svc.stop(t)
	return order
}

func requireOneConfirm(t *testing.T, out, order string) {
	t.Helper()
	ls := strings.Split(strings.TrimSpace(out), "\n")
	require.Len(t, ls, 1, "tail output: %q", out)
	var c command
	require.NoError(t, json.Unmarshal([]byte(ls[0]), &c), "tail output: %q", out)
	require.Equal(t, "ConfirmOrder", c.Type)
	require.Equal(t, order, c.OrderID)
}

// runClientEnv runs the catering client with extra environment; args must
// hold --brokers. It returns stdout and stderr.
func runClientEnv(t *testing.T, childEnv []string, args ...string) (string, string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(bins, "catering"), args...)
	cmd.Env = append(baseEnv(), childEnv...)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	return out.String(), errOut.String(), err
}

// freeAddr returns a loopback address nobody listens on right now.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	return ln.Addr().String()
}

func waitReady(t *testing.T, svc *service, url string, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		resp, err := http.Get(url) //nolint:gosec // test URL
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		if svc.exited() {
			t.Fatalf("%s exited before it was ready: %v", svc.name, svc.err)
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s not ready within %v (%s)", svc.name, within, url)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// checkSameCluster makes sure the SASL listener belongs to the cluster of
// KAFKA_BROKERS (the suite publishes and reads over the latter). A
// derived address of another broker skips; an explicit one fails.
func checkSameCluster(t *testing.T, addr string, derived bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	id := func(opts ...kgo.Opt) (string, error) {
		cl, err := kgo.NewClient(opts...)
		if err != nil {
			return "", err
		}
		defer cl.Close()
		m, err := kadm.NewClient(cl).BrokerMetadata(ctx)
		return m.Cluster, err
	}
	plain, err := id(kgo.SeedBrokers(env.addr))
	require.NoError(t, err, "cluster id over PLAINTEXT %s", env.addr)
	sasl, err := id(kgo.SeedBrokers(addr), kgo.SASL(scram.Auth{User: saslUser, Pass: saslPassword}.AsSha256Mechanism()))
	switch {
	case err != nil && derived:
		t.Skipf("%s answers but SCRAM user %s cannot use it (%v): not a kafka.sh SASL listener", addr, saslUser, err)
	case err != nil:
		t.Fatalf("KAFKA_SASL_BROKERS=%s: SCRAM-SHA-256 as %s: %v", addr, saslUser, err)
	case sasl != plain && derived:
		t.Skipf("%s belongs to cluster %s, KAFKA_BROKERS=%s to %s: set KAFKA_SASL_BROKERS", addr, sasl, env.addr, plain)
	case sasl != plain:
		t.Fatalf("KAFKA_SASL_BROKERS=%s belongs to cluster %s, KAFKA_BROKERS=%s to %s", addr, sasl, env.addr, plain)
	}
}
