package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/peterbourgon/ff/v3/ffcli"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/catering-match/catering-match/internal/audit"
	"github.com/catering-match/catering-match/topics"
)

type verifyCmd struct {
	conn         connFlags
	events       string
	commands     string
	dlq          string
	changelog    string
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
	fs.StringVar(&c.changelog, "changelog-topic", "", "changelog `topic` the service writes, audited too (empty: derived from --events-topic, audited if it exists; -: not audited)")
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
		shortUsage: "catering verify [--group GROUP] [--changelog-topic TOPIC] [--json] [--show N] [flags]",
		shortHelp:  "audit the topics: check the contract's guarantees against an independent model",
		longHelp: `Reads the events, the commands, the DLQ and the changelog (read_committed)
from their start to the end offsets seen at start, computes with its own
model of the contract's rules what the service must have written, and compares:
  - exactly one ConfirmOrder per order whose events match, with the right
    menu_id, causation_id, correlation_id, command_id (UUID v5), key and
    type header; none for any other order; one more only for a process
    started again after retention;
  - every malformed record, and every event over --max-history, in the DLQ
    exactly once, key, value and headers as they were, with a dlq-reason;
    nothing else in the DLQ;
  - for every order, its latest changelog record (per key and partition: a
    later record replaces an earlier one, a tombstone means forgotten), in
    the partition of its events: exactly the events the process applied,
    with their ids, in partition order (none missing, none of another
    order, no duplicate, no event after the decision); confirmed
    (ConfirmOrderIssued, with the command id and the matched menu) exactly
    when the rules call for the ConfirmOrder; expired (MatchExpired) only
    after its deadline; a tombstone, or no record, only once retention ran
    out after the decision (or for an order nothing was applied to).
    Records of events not yet processed may be present or not.
The changelog topic: --changelog-topic, else derived from --events-topic
(catering-events: catering-match-changelog; X-events: X-changelog). A
derived topic that does not exist is not audited, and the report says so
("changelog not audited: ..."); a --changelog-topic that does not exist is
an error; --changelog-topic - turns the changelog audit off.
Processing time is not on the topics: an event's record timestamp stands
for it, and orders within --time-tolerance of a match-timeout or retention
boundary are reported as uncertain, not as violations. Expiry and retention
after an order's last event are the service's ticks: up to the time verify
read the changelog, within --time-tolerance, a process may be expired or
forgotten, or not yet.

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
	case c.changelog == c.events || c.changelog == c.commands || c.changelog == c.dlq:
		return usagef("--changelog-topic %q must differ from --events-topic, --commands-topic and --dlq-topic", c.changelog)
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
	if err := limits.Validate(); err != nil {
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
	changelog, skipped, err := c.changelogTopic(ctx, cl)
	if err != nil {
		return err
	}
	auditor, err := audit.New(audit.Config{EventsTopic: c.events, CommandsTopic: c.commands, DLQTopic: c.dlq, ChangelogTopic: changelog, Limits: limits})
	if err != nil {
		return usagef("%v", err)
	}
	if skipped != "" {
		auditor.SkipChangelog(skipped)
	}
	src := audit.Source{Events: c.events, Commands: c.commands, DLQ: c.dlq, Changelog: changelog, Group: c.group, Wait: c.wait, Progress: c.stderr}
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
		return fmt.Errorf("%d violations of the contract's guarantees (see the report)", rep.Violations)
	}
	return nil
}

// changelogTopic returns the changelog to audit, or "" and why none is.
// --changelog-topic names it (and it must exist); "-" turns the audit off.
// Without the flag it is derived from --events-topic (derivedChangelog)
// and audited if it exists.
func (c *verifyCmd) changelogTopic(ctx context.Context, cl *kgo.Client) (topic, skipped string, err error) {
	switch c.changelog {
	case "-":
		return "", "--changelog-topic - was given", nil
	case "":
	default:
		return c.changelog, "", checkTopic(ctx, cl, c.changelog, "changelog-topic")
	}
	derived := derivedChangelog(c.events)
	if derived == "" || derived == c.commands || derived == c.dlq {
		return "", fmt.Sprintf("no changelog name follows from --events-topic %s; pass --changelog-topic", c.events), nil
	}
	n, err := topics.PartitionCount(ctx, cl, derived)
	if err != nil {
		return "", "", fmt.Errorf("%w (is the broker up? check --brokers)", err)
	}
	if n == 0 {
		return "", fmt.Sprintf("topic %s not found; pass --changelog-topic", derived), nil
	}
	return derived, "", nil
}

// derivedChangelog is the changelog verify assumes for an events topic when
// --changelog-topic is not given: the service's default changelog for its
// default events topic, and X-changelog for X-events (the naming of the
// integration suite and of deployments that prefix the topics' names).
// Any other name derives nothing.
func derivedChangelog(events string) string {
	def := topics.DefaultNames()
	switch {
	case events == def.Events:
		return def.Changelog
	case strings.HasSuffix(events, "-events") && len(events) > len("-events"):
		return strings.TrimSuffix(events, "-events") + "-changelog"
	}
	return ""
}
