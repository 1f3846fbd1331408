package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"time"

	"github.com/peterbourgon/ff/v3/ffcli"

	"github.com/catering-match/catering-match/internal/catering"
	"github.com/catering-match/catering-match/internal/replay"
	"github.com/catering-match/catering-match/state"
	"github.com/catering-match/catering-match/topics"
)

type replayCmd struct {
	conn         connFlags
	topic        string
	matchTimeout time.Duration
	maxHistory   int
	wait         time.Duration
	show         int

	stdout io.Writer
	stderr io.Writer
}

func newReplay(stdout io.Writer, stderr *trackingWriter) *ffcli.Command {
	c := &replayCmd{stdout: stdout, stderr: stderr}
	limits := state.DefaultLimits()
	fs := flag.NewFlagSet("catering replay", flag.ContinueOnError)
	c.conn.register(fs)
	fs.StringVar(&c.topic, "changelog-topic", topics.DefaultNames().Changelog, "changelog `topic` of the service")
	fs.DurationVar(&c.matchTimeout, "match-timeout", limits.Timeout, "the service's match timeout (rule 6)")
	fs.IntVar(&c.maxHistory, "max-history", limits.MaxHistory, "the service's max `events` per process (rule 8)")
	fs.DurationVar(&c.wait, "wait", replay.DefaultWait, "how long to wait, per partition, for a transaction open on the changelog at start to end")
	fs.IntVar(&c.show, "show", 10, "list at most this many offending `orders` (0: all)")
	return leaf{
		name:       "replay",
		shortUsage: "catering replay [--changelog-topic TOPIC] [--match-timeout D] [--max-history N] [--show N] [flags]",
		shortHelp:  "check that this build's process definition agrees with the stored processes",
		longHelp: `Run it with the build you are about to release, before a release that
changes state/. It reads every partition of the changelog (read_committed)
from its start to the end offset seen at start, one partition at a time,
takes each key's latest record as a restore does (a tombstone deletes it),
and compares this build's process definition, the one the service runs,
with the behaviour each stored record implies under the contract's rules
(docs/contract.md, rules 1-8, written down afresh in internal/replay):
  - undecodable: a record this build cannot decode, even one a later record
    of its key supersedes (a restore stops at it until compaction removes it);
  - status, confirmed-menu, menus: the state this build restores (its fold
    of the history) has another status, confirmed menu or command id, or
    other answers for a menu (customer confirmed; the caterer's latest
    answer), than the record's decision entry and the rules give;
  - decision-unexpected, decision-differs, decision-missing, event-refused:
    the history replayed through this build, each event at its recorded
    processing time and a tick at each decision's time, up to the first
    decision of either side: a stored ConfirmOrderIssued or MatchExpired
    this build would not record; one it would record at another place or
    with another menu or id; one it would record where the history has
    none; a stored event it would leave out (duplicate, finished process,
    history full, type without a handler);
  - next-event: a pending process on which this build would act otherwise
    than the rules on some possible next step: the customer's confirmation,
    the caterer's confirmation and the caterer's decline of each menu the
    history mentions and of one it does not, each at the time of the last
    entry, and a tick an instant before and exactly at the deadline (first
    entry + --match-timeout). Each step is compared by whether the event is
    applied, skipped or refused, and by the decision recorded (type, menu,
    id).
--match-timeout and --max-history must be the service's. Replay only reads:
the service may run meanwhile. A release that
changes a rule on purpose lists here the stored processes it affects.

Progress goes to stderr: a line per partition, and every 5 s while one is read.

Exit status: 0 when nothing differs ("replayed N processes from M partitions:
no differences"), 1 on a difference (the count per kind and the first
--show offending orders, with partition, offset and what differs) or an
error, 2 on a usage error.`,
		fs:   fs,
		exec: c.exec,
	}.command(stderr)
}

func (c *replayCmd) exec(ctx context.Context, args []string) error {
	switch {
	case len(args) > 0:
		return usagef("unexpected arguments %q: replay takes only flags", args)
	case c.topic == "":
		return usagef("--changelog-topic is empty: name the changelog (default %s)", topics.DefaultNames().Changelog)
	case c.matchTimeout <= 0:
		return usagef("--match-timeout %v must be positive, e.g. 336h", c.matchTimeout)
	case c.maxHistory < 2:
		return usagef("--max-history %d must be at least 2, as the service's", c.maxHistory)
	case c.wait <= 0:
		return usagef("--wait %v must be positive, e.g. 60s", c.wait)
	case c.show < 0:
		return usagef("--show %d must not be negative (0: all)", c.show)
	}
	limits := state.DefaultLimits()
	limits.Timeout, limits.MaxHistory = c.matchTimeout, c.maxHistory
	cfg := replay.Config{Topic: c.topic, Limits: limits, Wait: c.wait, Show: c.show, Progress: c.stderr}
	if err := cfg.Validate(); err != nil {
		return usagef("%v", err)
	}
	cl, err := c.conn.client(c.stderr, replay.ClientOpts()...)
	if err != nil {
		return err
	}
	defer cl.Close()
	if err := checkTopic(ctx, cl, c.topic, "changelog-topic"); err != nil {
		return err
	}
	rep, err := replay.Run(ctx, cl, cfg, catering.Definition())
	if err != nil {
		return err
	}
	if err := rep.WriteText(c.stdout); err != nil {
		return fmt.Errorf("write stdout: %w", err)
	}
	if !rep.OK() {
		return fmt.Errorf("%d orders differ: this build's process definition does not agree with the stored processes (see the report)", rep.Differing)
	}
	return nil
}
