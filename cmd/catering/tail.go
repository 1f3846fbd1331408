package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"

	"github.com/peterbourgon/ff/v3/ffcli"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/catering-match/catering-match/topics"
)

type tailCmd struct {
	conn          connFlags
	topic         string
	fromBeginning bool
	follow        bool
	max           int

	stdout io.Writer
	stderr io.Writer
}

func newTail(stdout io.Writer, stderr *trackingWriter) *ffcli.Command {
	c := &tailCmd{stdout: stdout, stderr: stderr}
	fs := flag.NewFlagSet("catering tail", flag.ContinueOnError)
	c.conn.register(fs)
	fs.StringVar(&c.topic, "commands-topic", topics.DefaultNames().Commands, "commands `topic` to read")
	fs.BoolVar(&c.fromBeginning, "from-beginning", false, "start at the oldest command instead of the end")
	fs.BoolVar(&c.follow, "follow", true, "keep waiting for new commands; with --follow=false, stop at the end offsets seen at start")
	fs.IntVar(&c.max, "max", 0, "stop after printing this many `commands` (0: no limit)")
	return leaf{
		name:       "tail",
		shortUsage: "catering tail [--from-beginning] [--follow=false] [--max N] [flags]",
		shortHelp:  "print the ConfirmOrder commands, one JSON line each (read_committed)",
		longHelp: `Reads the commands topic with read_committed isolation, so it prints only
commands of committed transactions, each record's value as is on one line.
It reads every partition directly, without a consumer group, and commits no
offsets. Stop it with Ctrl-C, or use --follow=false (scripts, tests).`,
		fs:   fs,
		exec: c.exec,
	}.command(stderr)
}

func (c *tailCmd) exec(ctx context.Context, args []string) error {
	if len(args) > 0 {
		return usagef("unexpected arguments %q: tail takes only flags", args)
	}
	if c.topic == "" {
		return usagef("--commands-topic is empty: name the commands topic (default %s)", topics.DefaultNames().Commands)
	}
	if c.max < 0 {
		return usagef("--max %d must not be negative (0: no limit)", c.max)
	}
	start := kgo.NewOffset().AtEnd()
	if c.fromBeginning {
		start = kgo.NewOffset().AtStart()
	}
	cl, err := c.conn.client(c.stderr,
		kgo.ConsumeTopics(c.topic),
		kgo.ConsumeResetOffset(start),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		// Commit and abort markers tell how far the reading got: without
		// them, a partition that ends with a marker (every transaction
		// ends with one) never looks finished to --follow=false.
		kgo.KeepControlRecords(),
	)
	if err != nil {
		return err
	}
	defer cl.Close()

	adm := kadm.NewClient(cl)
	if err := checkTopic(ctx, cl, c.topic, "commands-topic"); err != nil {
		return err
	}
	var pending map[int32]int64 // partition → offset to read up to
	if !c.follow {
		if !c.fromBeginning {
			return nil // nothing before the end
		}
		if pending, err = c.ends(ctx, adm); err != nil {
			return err
		}
	}

	out := bufio.NewWriter(c.stdout)
	defer out.Flush()
	printed := 0
	for c.follow || len(pending) > 0 {
		fetches := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			return nil // interrupted: the normal way to stop following
		}
		var fetchErr error
		fetches.EachError(func(topic string, p int32, err error) {
			if fetchErr == nil {
				fetchErr = fmt.Errorf("read %s partition %d: %w", topic, p, err)
			}
		})
		if fetchErr != nil {
			return fetchErr
		}
		for it := fetches.RecordIter(); !it.Done(); {
			r := it.Next()
			if !c.follow {
				end, ok := pending[r.Partition]
				if !ok || r.Offset >= end {
					continue // past the end seen at start
				}
				if r.Offset+1 >= end {
					delete(pending, r.Partition)
				}
			}
			if r.Attrs.IsControl() {
				continue
			}
			out.Write(oneLine(r.Value))
			out.WriteByte('\n')
			if printed++; c.max > 0 && printed >= c.max {
				return out.Flush()
			}
		}
		if err := out.Flush(); err != nil {
			return fmt.Errorf("write stdout: %w", err)
		}
	}
	return nil
}

// ends returns, for each partition with something to read, its last stable
// offset: where a read_committed reader that started now stops.
func (c *tailCmd) ends(ctx context.Context, adm *kadm.Client) (map[int32]int64, error) {
	starts, err := adm.ListStartOffsets(ctx, c.topic)
	if err == nil {
		err = starts.Error()
	}
	if err != nil {
		return nil, fmt.Errorf("list start offsets of %s: %w", c.topic, err)
	}
	stable, err := adm.ListCommittedOffsets(ctx, c.topic)
	if err == nil {
		err = stable.Error()
	}
	if err != nil {
		return nil, fmt.Errorf("list end offsets of %s: %w", c.topic, err)
	}
	pending := map[int32]int64{}
	stable.Each(func(o kadm.ListedOffset) {
		if s, ok := starts.Lookup(o.Topic, o.Partition); ok && o.Offset > s.Offset {
			pending[o.Partition] = o.Offset
		}
	})
	return pending, nil
}

// oneLine returns a value as one line: JSON spread over lines is compacted.
func oneLine(v []byte) []byte {
	if !bytes.ContainsAny(v, "\r\n") {
		return v
	}
	var b bytes.Buffer
	if json.Compact(&b, v) == nil {
		return b.Bytes()
	}
	return bytes.ReplaceAll(bytes.ReplaceAll(v, []byte("\r"), []byte(`\r`)), []byte("\n"), []byte(`\n`))
}
