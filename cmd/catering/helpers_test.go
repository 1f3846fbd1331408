package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/catering-match/catering-match/internal/embedded"
	"github.com/catering-match/catering-match/topics"
)

const testPartitions = 3

var testSeq atomic.Int64

// env is an embedded broker with this test's own topics.
type env struct {
	addr  string
	names topics.Names
}

func newEnv(t *testing.T) env {
	t.Helper()
	n := testSeq.Add(1)
	return newEnvNamed(t, topics.Names{
		Events:    fmt.Sprintf("ev-%d", n),
		Commands:  fmt.Sprintf("cmd-%d", n),
		Changelog: fmt.Sprintf("cl-%d", n),
		DLQ:       fmt.Sprintf("dlq-%d", n),
	})
}

// newEnvNamed is newEnv with the topic names given.
func newEnvNamed(t *testing.T, names topics.Names) env {
	t.Helper()
	b, err := embedded.StartAnyPort(embedded.Options{})
	require.NoError(t, err)
	t.Cleanup(b.Close)
	cl := newClient(t, b.Addr())
	_, err = topics.Ensure(testCtx(t), cl, names, topics.Spec{Partitions: testPartitions})
	require.NoError(t, err)
	return env{addr: b.Addr(), names: names}
}

func newClient(t *testing.T, addr string, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(addr)}, opts...)...)
	require.NoError(t, err)
	t.Cleanup(cl.Close)
	return cl
}

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// result is what one run of the command printed and returned.
type result struct {
	code           int
	stdout, stderr string
}

// runCmd runs the command line args with stdin (nil: none).
func runCmd(t *testing.T, stdin io.Reader, args ...string) result {
	t.Helper()
	var stdout, stderr bytes.Buffer
	code := run(testCtx(t), args, stdin, &stdout, &stderr)
	r := result{code: code, stdout: stdout.String(), stderr: stderr.String()}
	t.Logf("catering %q: exit %d\nstdout:\n%s\nstderr:\n%s", args, r.code, r.stdout, r.stderr)
	return r
}

// readAll reads the n records of topic (read_committed), failing on timeout.
func readAll(t *testing.T, addr, topic string, n int) []*kgo.Record {
	t.Helper()
	cl := newClient(t, addr,
		kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
	)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var recs []*kgo.Record
	for len(recs) < n {
		fs := cl.PollFetches(ctx)
		require.NoError(t, ctx.Err(), "read %d of %d records from %s", len(recs), n, topic)
		fs.EachError(func(_ string, _ int32, err error) { require.NoError(t, err) })
		recs = append(recs, fs.Records()...)
	}
	require.Len(t, recs, n)
	return recs
}

// recordCount sums the high watermarks of topic: how many records it holds.
func recordCount(t *testing.T, addr, topic string) int64 {
	t.Helper()
	ends, err := kadm.NewClient(newClient(t, addr)).ListEndOffsets(testCtx(t), topic)
	require.NoError(t, err)
	var n int64
	ends.Each(func(o kadm.ListedOffset) { n += o.Offset })
	return n
}

// readToEnd reads topic (read_committed) up to its current end, markers
// included in the count but not returned.
func readToEnd(t *testing.T, addr, topic string) []*kgo.Record {
	t.Helper()
	return readToEndAt(t, addr, topic, kgo.ReadCommitted())
}

// readToEndAt is readToEnd at the isolation level given: with
// read_uncommitted, aborted records are returned too.
func readToEndAt(t *testing.T, addr, topic string, isolation kgo.IsolationLevel) []*kgo.Record {
	t.Helper()
	ends, err := kadm.NewClient(newClient(t, addr)).ListEndOffsets(testCtx(t), topic)
	require.NoError(t, err)
	left := map[int32]int64{}
	ends.Each(func(o kadm.ListedOffset) {
		if o.Offset > 0 {
			left[o.Partition] = o.Offset
		}
	})
	cl := newClient(t, addr,
		kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchIsolationLevel(isolation),
		kgo.KeepControlRecords(),
	)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var recs []*kgo.Record
	for len(left) > 0 {
		fs := cl.PollFetches(ctx)
		require.NoError(t, ctx.Err(), "read %s: partitions %v not read to their end", topic, left)
		fs.EachError(func(_ string, _ int32, err error) { require.NoError(t, err) })
		fs.EachRecord(func(r *kgo.Record) {
			if end, ok := left[r.Partition]; ok && r.Offset+1 >= end {
				delete(left, r.Partition)
			}
			if !r.Attrs.IsControl() {
				recs = append(recs, r)
			}
		})
	}
	return recs
}
