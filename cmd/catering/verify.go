package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"time"

	"github.com/peterbourgon/ff/v3/ffcli"

	"github.com/catering-match/catering-match/internal/audit"
	"github.com/catering-match/catering-match/topics"
)

type verifyCmd struct {
	conn         connFlags
	events       string
	commands     string
	dlq          string
	group        string
	wait         time.Duration
	matchTimeout time.Duration
	retention    time.Duration
	maxHistory   int
	tolerance    time.Duration
	show         int
	json         bool

	stdout io.Writer
	stderr io.Writer
}

func newVerify(stdout io.Writer, stderr *trackingWriter) *ffcli.Command {
	c := &verifyCmd{stdout: stdout, stderr: stderr}
	names := topics.DefaultNames()
	limits := audit.DefaultLimits()
	fs := flag.NewFlagSet("catering verify", flag.ContinueOnError)
	c.conn.register(fs)
	fs.StringVar(&c.events, "events-topic", names.Events, "events `topic` the service reads")
	fs.StringVar(&c.commands, "commands-topic", names.Commands, "commands `topic` the service writes")
	fs.StringVar(&c.dlq, "dlq-topic", names.DLQ, "dead-letter `topic` the service writes")
	fs.StringVar(&c.group, "group", "", "the service's consumer `group`: first wait until it has processed every event (use on a live system)")
	fs.DurationVar(&c.wait, "wait", time.Minute, "how long to wait for the group to catch up, and for a topic to have no open transaction")
	fs.DurationVar(&c.matchTimeout, "match-timeout", limits.MatchTimeout, "the service's match timeout (rule 6)")
	fs.DurationVar(&c.retention, "retention", limits.Retention, "the service's retention of decided orders (rule 7)")
	fs.IntVar(&c.maxHistory, "max-history", limits.MaxHistory, "the service's max `events` per process (rule 8)")
	fs.DurationVar(&c.tolerance, "time-tolerance", limits.Tolerance, "orders whose outcome changes if an event moves this much across a deadline or retention boundary are uncertain, not violations")
	fs.IntVar(&c.show, "show", 10, "list at most this many offending `orders` (0: all)")
	fs.BoolVar(&c.json, "json", false, "print the report as one JSON object")
	return leaf{
		name:       "verify",
		shortUsage: "catering verify [--group GROUP] [--json] [--show N] [flags]",
		shortHelp:  "audit the topics: check DOMAIN.md's guarantees against an independent model",
		longHelp: `Reads the events, the commands (read_committed) and the DLQ from their start
to the end offsets seen at start, computes with its own model of DOMAIN.md's
rules what the service must have written, and compares:
  - exactly one ConfirmOrder per order whose events match, with the right
    menu_id, causation_id, correlation_id, command_id (UUID v5), key and
    type header; none for any other order; one more only for a process
    started again after retention;
  - every malformed record, and every event over --max-history, in the DLQ
    exactly once, key, value and headers as they were, with a dlq-reason;
    nothing else in the DLQ.
Processing time is not on the topics: an event's record timestamp stands
for it, and orders within --time-tolerance of a match-timeout or retention
boundary are reported as uncertain, not as violations.

Without --group, verify assumes the service has processed every event. With
--group, it first waits (up to --wait) for the group's committed offsets to
reach the events topic's end, and exits 1 if they do not.

Exit status: 0 when every guarantee holds, 1 on a violation or an error,
2 on a usage error.`,
		fs:   fs,
		exec: c.exec,
	}.command(stderr)
}

func (c *verifyCmd) exec(ctx context.Context, args []string) error {
	limits := audit.Limits{MatchTimeout: c.matchTimeout, Retention: c.retention, MaxHistory: c.maxHistory, Tolerance: c.tolerance}
	switch {
	case len(args) > 0:
		return usagef("unexpected arguments %q: verify takes only flags", args)
	case c.events == "" || c.commands == "" || c.dlq == "":
		return usagef("--events-topic, --commands-topic and --dlq-topic must not be empty")
	case c.events == c.commands || c.events == c.dlq || c.commands == c.dlq:
		return usagef("--events-topic, --commands-topic and --dlq-topic must name three different topics")
	case c.wait <= 0:
		return usagef("--wait %v must be positive, e.g. 60s", c.wait)
	case c.matchTimeout <= 0:
		return usagef("--match-timeout %v must be positive, e.g. 336h", c.matchTimeout)
	case c.retention <= 0:
		return usagef("--retention %v must be positive, e.g. 168h", c.retention)
	case c.maxHistory < 1:
		return usagef("--max-history %d must be at least 1", c.maxHistory)
	case c.tolerance < 0:
		return usagef("--time-tolerance %v must not be negative", c.tolerance)
	case c.show < 0:
		return usagef("--show %d must not be negative (0: all)", c.show)
	}
	auditor, err := audit.New(audit.Config{EventsTopic: c.events, CommandsTopic: c.commands, DLQTopic: c.dlq, Limits: limits})
	if err != nil {
		return usagef("%v", err)
	}
	cl, err := c.conn.client(c.stderr, audit.ClientOpts()...)
	if err != nil {
		return err
	}
	defer cl.Close()
	for _, t := range []struct{ name, flag string }{{c.events, "events-topic"}, {c.commands, "commands-topic"}, {c.dlq, "dlq-topic"}} {
		if err := checkTopic(ctx, cl, t.name, t.flag); err != nil {
			return err
		}
	}
	src := audit.Source{Events: c.events, Commands: c.commands, DLQ: c.dlq, Group: c.group, Wait: c.wait, Progress: c.stderr}
	if err := audit.Read(ctx, cl, src, auditor); err != nil {
		return err
	}
	rep := auditor.Check()
	if c.json {
		err = rep.WriteJSON(c.stdout, c.show)
	} else {
		err = rep.WriteText(c.stdout, c.show)
	}
	if err != nil {
		return fmt.Errorf("write stdout: %w", err)
	}
	if !rep.OK {
		return fmt.Errorf("%d violations of DOMAIN.md's guarantees (see the report)", rep.Violations)
	}
	return nil
}
