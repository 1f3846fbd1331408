package replay

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/catering-match/catering-match/processor"
	"github.com/catering-match/catering-match/state"
)

// ClientOpts are the options the client given to Run must be created with
// (besides its brokers and security): read_committed, with the transaction
// markers kept, so that a partition whose last record is a marker is seen
// to end. The client must have no consumer group and consume nothing yet.
func ClientOpts() []kgo.Opt {
	return []kgo.Opt{kgo.FetchIsolationLevel(kgo.ReadCommitted()), kgo.KeepControlRecords()}
}

// Run replays the changelog cfg.Topic against def, the build's process
// definition (its Process folds and decides, its Codec decodes; a nil
// Codec is the engine's default). It lists every partition's end offset
// first, then reads the partitions one after another, each from its start
// to that end, and judges each partition once it is read, so that it holds
// one partition's processes at a time. cl is made with ClientOpts.
//
// A Report with differences is not an error; an error means the replay
// could not finish.
func Run(ctx context.Context, cl *kgo.Client, cfg Config, def processor.Definition[state.Order]) (*Report, error) {
	cfg = cfg.withDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	rep := &Report{Topic: cfg.Topic}
	c, err := newChecker(def, cfg.Limits, cfg.Show, rep)
	if err != nil {
		return nil, err
	}
	adm := kadm.NewClient(cl)
	starts, err := listOffsets(ctx, cfg.Topic, "start", adm.ListStartOffsets)
	if err != nil {
		return nil, err
	}
	ends, err := listOffsets(ctx, cfg.Topic, "end", adm.ListEndOffsets)
	if err != nil {
		return nil, err
	}
	parts := make([]int32, 0, len(ends))
	for p := range ends {
		parts = append(parts, p)
	}
	slices.Sort(parts)
	rep.Partitions = len(parts)
	for i, p := range parts {
		began := time.Now()
		pr := newPartitionRecords(p)
		read := rep.Records
		if err := readPartition(ctx, cl, adm, cfg, p, starts[p], ends[p], func(r *kgo.Record) {
			c.add(pr, r.Key, r.Value, r.Offset)
		}); err != nil {
			return nil, err
		}
		processes, differing := rep.Processes, rep.Differing
		c.finish(pr)
		progressf(cfg, "replay: partition %d (%d of %d): %d records to offset %d, %d processes, %d with differences (%v)\n",
			p, i+1, len(parts), rep.Records-read, ends[p], rep.Processes-processes, rep.Differing-differing, time.Since(began).Round(time.Millisecond))
	}
	return rep, nil
}

func listOffsets(ctx context.Context, topic, which string, list func(context.Context, ...string) (kadm.ListedOffsets, error)) (map[int32]int64, error) {
	l, err := list(ctx, topic)
	if err == nil {
		err = l.Error()
	}
	if errors.Is(err, kerr.UnknownTopicOrPartition) {
		return nil, fmt.Errorf("changelog %s does not exist: name the service's changelog", topic)
	}
	if err != nil {
		return nil, fmt.Errorf("list %s offsets of %s: %w", which, topic, err)
	}
	out := map[int32]int64{}
	l.Each(func(o kadm.ListedOffset) { out[o.Partition] = o.Offset })
	if len(out) == 0 {
		return nil, fmt.Errorf("changelog %s does not exist: name the service's changelog", topic)
	}
	return out, nil
}

// readPartition calls add for each record of partition p in [start, end),
// in offset order (read_committed: no aborted record, no marker).
//
// It first waits, up to cfg.Wait, for every transaction that holds records
// below end to end (the last stable offset to reach end). Then the record
// at end-1 is either a committed record or a marker (an aborted record's
// marker comes later and is seen), so the read knows when it is done.
func readPartition(ctx context.Context, cl *kgo.Client, adm *kadm.Client, cfg Config, p int32, start, end int64, add func(*kgo.Record)) error {
	if end <= start {
		return nil
	}
	if err := waitStable(ctx, adm, cfg, p, end); err != nil {
		return err
	}
	var at atomic.Int64
	at.Store(start)
	if cfg.Progress != nil {
		stop := every(cfg.ProgressEvery, func() {
			progressf(cfg, "replay: partition %d: read to offset %d of %d\n", p, at.Load(), end)
		})
		defer stop()
	}
	cl.AddConsumePartitions(map[string]map[int32]kgo.Offset{cfg.Topic: {p: kgo.NewOffset().At(start)}})
	defer cl.RemoveConsumePartitions(map[string][]int32{cfg.Topic: {p}})
	for done := false; !done; {
		fs := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("read %s partition %d: %w (at offset %d of %d)", cfg.Topic, p, err, at.Load(), end)
		}
		var ferr error
		fs.EachError(func(t string, fp int32, err error) {
			if ferr == nil && t == cfg.Topic && fp == p {
				ferr = fmt.Errorf("read %s partition %d: %w", t, fp, err)
			}
		})
		if ferr != nil {
			return ferr
		}
		fs.EachRecord(func(r *kgo.Record) {
			if done || r.Topic != cfg.Topic || r.Partition != p || r.Offset < start || r.Offset >= end {
				return
			}
			at.Store(r.Offset + 1)
			done = r.Offset+1 >= end
			if r.Attrs.IsControl() {
				return
			}
			add(r)
		})
	}
	return nil
}

// waitStable waits until partition p's last stable offset reaches end.
func waitStable(ctx context.Context, adm *kadm.Client, cfg Config, p int32, end int64) error {
	deadline := time.Now().Add(cfg.Wait)
	for {
		l, err := adm.ListCommittedOffsets(ctx, cfg.Topic)
		if err == nil {
			err = l.Error()
		}
		if err != nil {
			return fmt.Errorf("list stable offsets of %s: %w", cfg.Topic, err)
		}
		o, ok := l.Lookup(cfg.Topic, p)
		if !ok {
			return fmt.Errorf("list stable offsets of %s: no partition %d", cfg.Topic, p)
		}
		if o.Offset >= end {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s partition %d: a transaction open since before offset %d has not ended within the wait of %v (stable offset %d): a producer left it open; retry, or wait longer",
				cfg.Topic, p, end, cfg.Wait, o.Offset)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// every calls f each interval until stopped.
func every(interval time.Duration, f func()) (stop func()) {
	quit, finished := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(finished)
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			select {
			case <-quit:
				return
			case <-t.C:
				f()
			}
		}
	}()
	return func() { close(quit); <-finished }
}

func progressf(cfg Config, format string, args ...any) {
	if cfg.Progress != nil {
		fmt.Fprintf(cfg.Progress, format, args...)
	}
}
