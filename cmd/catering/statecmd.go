package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/peterbourgon/ff/v3/ffcli"

	"github.com/catering-match/catering-match/internal/catering"
	"github.com/catering-match/catering-match/processor"
	"github.com/catering-match/catering-match/state"
	"github.com/catering-match/catering-match/topics"
)

type stateCmd struct {
	conn         connFlags
	topic        string
	json         bool
	matchTimeout time.Duration
	retention    time.Duration
	timeout      time.Duration

	stdout io.Writer
	stderr io.Writer
}

func newState(stdout io.Writer, stderr *trackingWriter) *ffcli.Command {
	c := &stateCmd{stdout: stdout, stderr: stderr}
	limits := state.DefaultLimits()
	fs := flag.NewFlagSet("catering state", flag.ContinueOnError)
	c.conn.register(fs)
	fs.StringVar(&c.topic, "changelog-topic", topics.DefaultNames().Changelog, "changelog `topic` of the service")
	fs.BoolVar(&c.json, "json", false, "print the process as one JSON object")
	fs.DurationVar(&c.matchTimeout, "match-timeout", limits.Timeout, "the service's match timeout, to show when a pending order expires")
	fs.DurationVar(&c.retention, "retention", limits.Retention, "the service's retention, to show when a decided order is forgotten")
	fs.DurationVar(&c.timeout, "timeout", time.Minute, "give up when the changelog partition is not read within this `duration`")
	return leaf{
		name:       "state",
		shortUsage: "catering state ORDER [--json] [flags]",
		shortHelp:  "show an order's process: status, menus, decision and history",
		longHelp: `Reads the order's changelog partition to its stable end, as the service
restores it, and prints the order's process: its status, what the customer
and the caterer said about each menu, the confirmed menu and ConfirmOrder
command id once confirmed, and the history the state is folded from.
The service itself is not asked: this works whether it runs or not.`,
		fs:   fs,
		exec: c.exec,
	}.command(stderr)
}

func (c *stateCmd) exec(ctx context.Context, args []string) error {
	switch {
	case len(args) == 0:
		return usagef("missing ORDER: give the order id, e.g. catering state 42")
	case len(args) > 1:
		return usagef("too many arguments %q: give one order id", args)
	case args[0] == "":
		return usagef("ORDER is empty: give the order id, e.g. catering state 42")
	case c.topic == "":
		return usagef("--changelog-topic is empty: name the changelog (default %s)", topics.DefaultNames().Changelog)
	case c.matchTimeout <= 0:
		return usagef("--match-timeout %v must be positive, e.g. 336h", c.matchTimeout)
	case c.retention <= 0:
		return usagef("--retention %v must be positive, e.g. 168h", c.retention)
	case c.timeout <= 0:
		return usagef("--timeout %v must be positive, e.g. 1m", c.timeout)
	}
	order := args[0]
	limits := state.DefaultLimits()
	limits.Timeout, limits.Retention = c.matchTimeout, c.retention

	cl, err := c.conn.client(c.stderr)
	if err != nil {
		return err
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	n, err := partitions(ctx, cl, c.topic, "changelog-topic")
	if err != nil {
		return err
	}
	p := topics.PartitionFor(order, n)
	store, err := processor.LoadPartition(ctx, cl, catering.Definition(), c.topic, p, limits, c.conn.logger(c.stderr))
	if errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("read %s partition %d: not done within --timeout %v (a transaction left open on the changelog holds the read until it ends): %w", c.topic, p, c.timeout, err)
	}
	if err != nil {
		return fmt.Errorf("read %s partition %d: %w", c.topic, p, err)
	}
	proc := store.Get(order)
	if proc == nil {
		return fmt.Errorf("order %s has no process (never seen, or forgotten after retention)", order)
	}
	m, err := state.NewCatering(limits)
	if err != nil {
		return err
	}
	v := view(order, proc, m, c.topic, p)
	if c.json {
		enc := json.NewEncoder(c.stdout)
		return enc.Encode(v)
	}
	return v.print(c.stdout, time.Now())
}

// processView is what state prints; its JSON is the --json output.
type processView struct {
	OrderID       string      `json:"order_id"`
	Status        string      `json:"status"`
	Changelog     string      `json:"changelog"`
	Partition     int32       `json:"partition"`
	Menus         []menuView  `json:"menus"`
	ConfirmedMenu string      `json:"confirmed_menu"`
	CommandID     string      `json:"command_id"`
	ExpiresAt     string      `json:"expires_at,omitempty"`   // pending only
	EndedAt       string      `json:"ended_at,omitempty"`     // confirmed or expired
	ForgottenAt   string      `json:"forgotten_at,omitempty"` // when the service tombstones it
	History       []entryView `json:"history"`
}

type menuView struct {
	MenuID   string `json:"menu_id"`
	Customer bool   `json:"customer"`
	Caterer  string `json:"caterer"` // confirmed, declined or none
}

type entryView struct {
	ID     string `json:"id"`
	Type   string `json:"type"`
	MenuID string `json:"menu_id"`
	At     string `json:"at"`
}

func view(order string, p *state.Process[state.Order], m *state.Manager[state.Order], changelog string, partition int32) processView {
	o := p.State
	v := processView{
		OrderID: order, Status: o.Status.String(), Changelog: changelog, Partition: partition,
		Menus: []menuView{}, ConfirmedMenu: o.ConfirmedMenu(), CommandID: o.CommandID(), History: []entryView{},
	}
	for _, mn := range o.Menus {
		v.Menus = append(v.Menus, menuView{MenuID: mn.ID, Customer: mn.Customer, Caterer: mn.Caterer.String()})
	}
	for _, e := range p.History {
		v.History = append(v.History, entryView{ID: e.ID, Type: e.Type, MenuID: e.Ref, At: timestamp(e.At.Time())})
	}
	if d, ok := m.Deadline(p); ok {
		v.ExpiresAt = timestamp(d)
	}
	if ended, ok := m.Ended(p); ok {
		v.EndedAt = timestamp(ended)
		v.ForgottenAt = timestamp(ended.Add(m.Limits().Retention))
	}
	return v
}

func timestamp(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }

func (v processView) print(w io.Writer, now time.Time) error {
	tw := tabwriter.NewWriter(w, 0, 2, 2, ' ', 0)
	fmt.Fprintf(tw, "order %s: %s\n", v.OrderID, v.Status)
	fmt.Fprintf(tw, "  changelog:\t%s partition %d\n", v.Changelog, v.Partition)
	if v.Status == state.Confirmed.String() {
		fmt.Fprintf(tw, "  confirmed menu:\t%s\n", menuName(v.ConfirmedMenu))
		fmt.Fprintf(tw, "  command id:\t%s\n", v.CommandID)
	}
	if v.ExpiresAt != "" {
		fmt.Fprintf(tw, "  expires at:\t%s (%s)\n", v.ExpiresAt, until(v.ExpiresAt, now, "overdue: the service expires it at its next tick"))
	}
	if v.EndedAt != "" {
		fmt.Fprintf(tw, "  ended at:\t%s\n", v.EndedAt)
		fmt.Fprintf(tw, "  forgotten at:\t%s (%s)\n", v.ForgottenAt, until(v.ForgottenAt, now, "due: the service tombstones it at its next tick"))
	}
	fmt.Fprintf(tw, "menus:\n  MENU\tCUSTOMER\tCATERER\n")
	for _, m := range v.Menus {
		customer := "no"
		if m.Customer {
			customer = "yes"
		}
		fmt.Fprintf(tw, "  %s\t%s\t%s\n", menuName(m.MenuID), customer, m.Caterer)
	}
	fmt.Fprintf(tw, "history (%d):\n  AT\tTYPE\tMENU\tID\n", len(v.History))
	for _, e := range v.History {
		fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\n", e.At, e.Type, menuName(e.MenuID), e.ID)
	}
	return tw.Flush()
}

func menuName(id string) string {
	if id == "" {
		return "(default)"
	}
	return id
}

func until(at string, now time.Time, past string) string {
	t, err := time.Parse(time.RFC3339Nano, at)
	if err != nil {
		return "?"
	}
	d := t.Sub(now).Round(time.Minute)
	if d <= 0 {
		return past
	}
	days := d / (24 * time.Hour)
	if days == 0 {
		return "in " + d.String()
	}
	rest := strings.TrimSuffix((d - days*24*time.Hour).String(), "0s") // minutes at most
	return fmt.Sprintf("in %dd%s", days, rest)
}
