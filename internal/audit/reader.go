package audit

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// ClientOpts are the options the client given to Read must be created
// with (besides its brokers): read_committed, with the transaction markers
// kept so that a partition whose tail is a marker is seen to end. The
// client must have no consumer group and consume nothing yet.
func ClientOpts() []kgo.Opt {
	return []kgo.Opt{kgo.FetchIsolationLevel(kgo.ReadCommitted()), kgo.KeepControlRecords()}
}

// Source says what to read.
type Source struct {
	Events, Commands, DLQ string
	// Changelog, when set, is read too (into AddChangelog), its end taken
	// with the commands' and the DLQ's.
	Changelog string
	// Group, when set, is the service's consumer group: Read first waits
	// until its committed offsets reach the events topic's end.
	Group string
	// Wait bounds each wait: for the group, and for a topic to have no
	// open transaction.
	Wait time.Duration
	// Progress, when not nil, receives a line every ProgressEvery (default
	// one second) while the topics are read.
	Progress      io.Writer
	ProgressEvery time.Duration
}

// NotCaughtUpError says the service's group has not processed every event.
type NotCaughtUpError struct {
	Group  string
	Topic  string
	Behind int64 // records not processed
	Wait   time.Duration
	None   bool // the group has no committed offset for the topic at all
}

func (e *NotCaughtUpError) Error() string {
	msg := fmt.Sprintf("service has not processed %d records of %s: group %s was still behind its end after %v", e.Behind, e.Topic, e.Group, e.Wait)
	if e.None {
		msg += " (the group has committed no offsets for the topic: is --group right?)"
	}
	return msg
}

// Read snapshots the end of the topics, reads each from its start to
// that end with cl (made with ClientOpts, read_committed) and adds every
// record to a. Order: the events topic's end; with a Group, the wait for
// the service to reach it; the commands', DLQ's and changelog's ends, each
// at a moment with no transaction open (then a.SetNow); the events' end
// again. Events between the two event snapshots may or may not have been
// processed: their output is checked when present, not required.
func Read(ctx context.Context, cl *kgo.Client, src Source, a *Auditor) error {
	adm := kadm.NewClient(cl)
	processed, err := stableEnds(ctx, adm, src.Events, src.Wait)
	if err != nil {
		return err
	}
	written := []string{src.Commands, src.DLQ}
	if src.Changelog != "" {
		written = append(written, src.Changelog)
	}
	starts := map[string]map[int32]int64{}
	for _, t := range append([]string{src.Events}, written...) {
		if starts[t], err = startOffsets(ctx, adm, t); err != nil {
			return err
		}
	}
	if src.Group != "" {
		if err := waitGroup(ctx, adm, src, processed, starts[src.Events]); err != nil {
			return err
		}
	}
	ends := map[string]map[int32]int64{}
	for _, t := range written {
		if ends[t], err = stableEnds(ctx, adm, t, src.Wait); err != nil {
			return err
		}
	}
	a.SetNow(time.Now())
	if ends[src.Events], err = stableEnds(ctx, adm, src.Events, src.Wait); err != nil {
		return err
	}
	for p, s := range starts[src.Events] {
		a.SetEventsStart(p, s)
	}

	consume := map[string]map[int32]kgo.Offset{}
	remaining := map[string]map[int32]int64{}
	var total int64
	for t, es := range ends {
		for p, end := range es {
			start := starts[t][p]
			if end <= start {
				continue
			}
			if consume[t] == nil {
				consume[t], remaining[t] = map[int32]kgo.Offset{}, map[int32]int64{}
			}
			consume[t][p] = kgo.NewOffset().At(start)
			remaining[t][p] = end
			total += end - start
		}
	}
	if total == 0 {
		return nil
	}
	var done atomic.Int64
	if src.Progress != nil {
		stop := progress(src.Progress, src.ProgressEvery, &done, total)
		defer stop()
	}
	cl.AddConsumePartitions(consume)
	defer func() {
		rm := map[string][]int32{}
		for t, ps := range consume {
			for p := range ps {
				rm[t] = append(rm[t], p)
			}
		}
		cl.RemoveConsumePartitions(rm)
	}()
	for len(remaining) > 0 {
		fs := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("reading the topics: %w (%s)", err, describe(remaining))
		}
		var fetchErr error
		fs.EachError(func(t string, p int32, err error) {
			if fetchErr == nil {
				fetchErr = fmt.Errorf("read %s partition %d: %w", t, p, err)
			}
		})
		if fetchErr != nil {
			return fetchErr
		}
		fs.EachRecord(func(r *kgo.Record) {
			end, ok := remaining[r.Topic][r.Partition]
			if !ok || r.Offset >= end {
				return // past the snapshot
			}
			done.Add(1)
			if r.Offset+1 >= end {
				delete(remaining[r.Topic], r.Partition)
				if len(remaining[r.Topic]) == 0 {
					delete(remaining, r.Topic)
				}
			}
			if r.Attrs.IsControl() {
				return
			}
			switch r.Topic {
			case src.Events:
				a.AddEvent(r, r.Offset < processed[r.Partition])
			case src.Commands:
				a.AddCommand(r)
			case src.DLQ:
				a.AddDeadLetter(r)
			case src.Changelog:
				a.AddChangelog(r)
			}
		})
	}
	return nil
}

func describe(remaining map[string]map[int32]int64) string {
	var parts []string
	for t, ps := range remaining {
		for p, end := range ps {
			parts = append(parts, fmt.Sprintf("%s partition %d not read to offset %d", t, p, end))
		}
	}
	slices.Sort(parts)
	return strings.Join(parts, ", ")
}

// progress prints how far the reading got every interval until stopped.
func progress(w io.Writer, every time.Duration, done *atomic.Int64, total int64) (stop func()) {
	if every <= 0 {
		every = time.Second
	}
	quit, finished := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(finished)
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-quit:
				return
			case <-t.C:
				n := done.Load()
				fmt.Fprintf(w, "verify: read %d / %d records (%d%%)\n", n, total, n*100/total)
			}
		}
	}()
	return func() { close(quit); <-finished }
}

func startOffsets(ctx context.Context, adm *kadm.Client, topic string) (map[int32]int64, error) {
	l, err := adm.ListStartOffsets(ctx, topic)
	if err == nil {
		err = l.Error()
	}
	if err != nil {
		return nil, fmt.Errorf("list start offsets of %s: %w", topic, err)
	}
	out := map[int32]int64{}
	l.Each(func(o kadm.ListedOffset) { out[o.Partition] = o.Offset })
	return out, nil
}

// stableEnds returns each partition's end at a moment when no transaction
// is open on it: the high watermark, read before and after the last stable
// offset, all three equal. Then the record before the end is a marker or a
// record outside any transaction, which a read_committed reader sees, so
// that the reading knows it is done. It waits up to wait for every partition.
func stableEnds(ctx context.Context, adm *kadm.Client, topic string, wait time.Duration) (map[int32]int64, error) {
	deadline := time.Now().Add(wait)
	ends := map[int32]int64{}
	for {
		list := func(committed bool) (kadm.ListedOffsets, error) {
			var l kadm.ListedOffsets
			var err error
			if committed {
				l, err = adm.ListCommittedOffsets(ctx, topic)
			} else {
				l, err = adm.ListEndOffsets(ctx, topic)
			}
			if err == nil {
				err = l.Error()
			}
			if err != nil {
				return nil, fmt.Errorf("list end offsets of %s: %w", topic, err)
			}
			return l, nil
		}
		before, err := list(false)
		if err != nil {
			return nil, err
		}
		stable, err := list(true)
		if err != nil {
			return nil, err
		}
		after, err := list(false)
		if err != nil {
			return nil, err
		}
		if len(before[topic]) == 0 {
			return nil, fmt.Errorf("topic %s has no partitions (does it exist?)", topic)
		}
		var open []string
		before.Each(func(o kadm.ListedOffset) {
			if _, ok := ends[o.Partition]; ok {
				return
			}
			s, _ := stable.Lookup(topic, o.Partition)
			h, _ := after.Lookup(topic, o.Partition)
			if s.Offset == o.Offset && h.Offset == o.Offset {
				ends[o.Partition] = o.Offset
				return
			}
			open = append(open, fmt.Sprintf("partition %d: last stable offset %d, high watermark %d", o.Partition, s.Offset, h.Offset))
		})
		if len(open) == 0 {
			return ends, nil
		}
		if time.Now().After(deadline) {
			slices.Sort(open)
			return nil, fmt.Errorf("%s has a transaction open for longer than --wait %v (%s): a producer may be stuck; retry later or raise --wait", topic, wait, strings.Join(open, "; "))
		}
		if err := sleep(ctx, 100*time.Millisecond); err != nil {
			return nil, err
		}
	}
}

// waitGroup waits until the group's committed offsets on the events topic
// reach ends.
func waitGroup(ctx context.Context, adm *kadm.Client, src Source, ends, starts map[int32]int64) error {
	deadline := time.Now().Add(src.Wait)
	for {
		resp, err := adm.FetchOffsetsForTopics(ctx, src.Group, src.Events)
		if err == nil {
			err = resp.Error()
		}
		if errors.Is(err, kerr.GroupIDNotFound) {
			resp, err = nil, nil // not created yet: nothing committed
		}
		if err != nil {
			return fmt.Errorf("fetch the committed offsets of group %s: %w", src.Group, err)
		}
		var behind int64
		none := true
		for p, end := range ends {
			at := starts[p]
			if o, ok := resp.Lookup(src.Events, p); ok && o.Err == nil && o.At >= 0 {
				at, none = o.At, false
			}
			behind += max(0, end-at)
		}
		if behind == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return &NotCaughtUpError{Group: src.Group, Topic: src.Events, Behind: behind, Wait: src.Wait, None: none}
		}
		if err := sleep(ctx, 250*time.Millisecond); err != nil {
			return err
		}
	}
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
