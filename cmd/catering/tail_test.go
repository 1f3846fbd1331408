package main

import (
	"bytes"
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/catering-match/catering-match/topics"
)

// produceTxn writes values to topic in one transaction and commits or aborts it.
func produceTxn(t *testing.T, cl *kgo.Client, topic string, commit bool, key string, values ...string) {
	t.Helper()
	ctx := testCtx(t)
	require.NoError(t, cl.BeginTransaction())
	for _, v := range values {
		require.NoError(t, cl.ProduceSync(ctx, &kgo.Record{Topic: topic, Key: []byte(key), Value: []byte(v)}).FirstErr())
	}
	require.NoError(t, cl.EndTransaction(ctx, kgo.TransactionEndTry(commit)))
}

func TestTailCommittedOnly(t *testing.T) {
	e := newEnv(t)
	txn := newClient(t, e.addr, kgo.TransactionalID("tail-test-"+e.names.Commands))
	committed := topics.NewConfirmOrder("42", "menu-a", "ev-2", time.Now())
	aborted := topics.NewConfirmOrder("43", "menu-b", "ev-9", time.Now())
	// Same key, so same partition: it ends with the abort marker, which
	// --follow=false must recognise as the end.
	produceTxn(t, txn, e.names.Commands, true, "42", string(committed.Encode()))
	produceTxn(t, txn, e.names.Commands, false, "42", string(aborted.Encode()))

	r := runCmd(t, nil, "tail", "--from-beginning", "--follow=false", "--brokers", e.addr, "--commands-topic", e.names.Commands)
	require.Equal(t, 0, r.code)
	require.Equal(t, string(committed.Encode())+"\n", r.stdout)

	// From the end, without following, there is nothing to print.
	r = runCmd(t, nil, "tail", "--follow=false", "--brokers", e.addr, "--commands-topic", e.names.Commands)
	require.Equal(t, 0, r.code)
	require.Empty(t, r.stdout)
}

func TestTailMax(t *testing.T) {
	e := newEnv(t)
	txn := newClient(t, e.addr, kgo.TransactionalID("tail-test-"+e.names.Commands))
	produceTxn(t, txn, e.names.Commands, true, "1", `{"n":1}`, `{"n":2}`, `{"n":3}`)

	r := runCmd(t, nil, "tail", "--from-beginning", "--max", "2", "--brokers", e.addr, "--commands-topic", e.names.Commands)
	require.Equal(t, 0, r.code)
	require.Equal(t, `{"n":1}`+"\n"+`{"n":2}`+"\n", r.stdout)
}

func TestTailMissingTopic(t *testing.T) {
	e := newEnv(t)
	r := runCmd(t, nil, "tail", "--brokers", e.addr, "--commands-topic", "nope")
	require.Equal(t, 1, r.code)
	require.True(t, strings.Contains(r.stderr, "topic nope does not exist") && strings.Contains(r.stderr, "--commands-topic"), r.stderr)
}

func TestTailFollow(t *testing.T) {
	e := newEnv(t)
	txn := newClient(t, e.addr, kgo.TransactionalID("tail-test-"+e.names.Commands))
	produceTxn(t, txn, e.names.Commands, true, "1", `{"old":true}`)

	ctx, cancel := context.WithCancel(testCtx(t))
	defer cancel()
	var stdout, stderr syncBuffer
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, []string{"tail", "--brokers", e.addr, "--commands-topic", e.names.Commands}, nil, &stdout, &stderr)
	}()
	// tail starts at the end it sees: write until a command shows up.
	deadline := time.Now().Add(20 * time.Second)
	for !strings.Contains(stdout.String(), `{"new":true}`) {
		require.True(t, time.Now().Before(deadline), "no command printed within 20s: %s", stderr.String())
		produceTxn(t, txn, e.names.Commands, true, "1", `{"new":true}`)
		time.Sleep(300 * time.Millisecond)
	}
	cancel()
	select {
	case code := <-done:
		require.Equal(t, 0, code, "Ctrl-C is the normal end of tail: %s", stderr.String())
	case <-time.After(10 * time.Second):
		t.Fatal("tail did not stop on cancel")
	}
	require.NotContains(t, stdout.String(), "old", "tail starts at the end")
}

// syncBuffer is a bytes.Buffer safe for a writer and a reader goroutine.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
