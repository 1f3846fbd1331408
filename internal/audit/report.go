package audit

import (
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
)

// WriteText prints the report for a person: the counts, whether the
// changelog was audited, any warnings and uncertain orders, then "OK: all
// guarantees hold" or "VIOLATIONS: N" and the first show offending orders
// (show <= 0: all) with their events and latest changelog records.
func (r *Report) WriteText(w io.Writer, show int) error {
	tw := tabwriter.NewWriter(w, 0, 2, 2, ' ', 0)
	c := r.Counts
	rows := []struct {
		name string
		n    int
	}{
		{"events read", c.Events}, {"orders", c.Orders}, {"applied", c.Applied},
		{"duplicates", c.Duplicates}, {"other types", c.OtherTypes}, {"terminal skips", c.TerminalSkips},
		{"malformed", c.Malformed}, {"history full", c.HistoryFull}, {"matched orders", c.Matched},
		{"expired", c.Expired}, {"restarted after retention", c.Restarted},
		{"commands read", c.Commands}, {"dead letters read", c.DeadLetters}, {"uncertain", c.Uncertain},
	}
	for _, row := range rows {
		fmt.Fprintf(tw, "%s:\t%d\n", row.name, row.n)
	}
	if c.Unprocessed > 0 {
		fmt.Fprintf(tw, "not yet processed:\t%d\t(events after the snapshot: their output is checked if present)\n", c.Unprocessed)
	}
	if r.ChangelogTopic != "" {
		fmt.Fprintf(tw, "changelog records read:\t%d\t(%s)\n", c.ChangelogRecords, r.ChangelogTopic)
		fmt.Fprintf(tw, "changelog processes:\t%d\t(latest record of a key holds a process)\n", c.ChangelogLive)
		fmt.Fprintf(tw, "changelog tombstones:\t%d\t(latest record of a key is a tombstone)\n", c.ChangelogTombstones)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if r.ChangelogTopic == "" && r.ChangelogNotAudited != "" {
		fmt.Fprintf(w, "changelog not audited: %s\n", r.ChangelogNotAudited)
	}
	for _, warn := range r.Warnings {
		fmt.Fprintf(w, "warning: %s\n", warn)
	}
	if len(r.Uncertain) > 0 {
		fmt.Fprintf(w, "UNCERTAIN (not violations): %d\n", len(r.Uncertain))
		writeOffenses(w, r.Uncertain, show)
	}
	if r.OK {
		_, err := fmt.Fprintln(w, "OK: all guarantees hold")
		return err
	}
	fmt.Fprintf(w, "VIOLATIONS: %d\n", r.Violations)
	writeOffenses(w, r.Offending, show)
	return nil
}

func writeOffenses(w io.Writer, offs []Offense, show int) {
	for i, o := range offs {
		if show > 0 && i == show {
			fmt.Fprintf(w, "... and %d more (raise --show)\n", len(offs)-i)
			return
		}
		if o.Record != "" {
			fmt.Fprintf(w, "record %s: %s\n", o.Record, o.Description())
			continue
		}
		fmt.Fprintf(w, "order %s: %s\n", strconv.Quote(o.OrderID), o.Description())
		tw := tabwriter.NewWriter(w, 0, 2, 2, ' ', 0)
		for _, e := range o.Events {
			if e.Malformed != "" {
				fmt.Fprintf(tw, "    malformed\t(%s)\t\t%d/%d\n", e.Malformed, e.Partition, e.Offset)
				continue
			}
			menu := e.MenuID
			if menu == "" {
				menu = "(default)"
			}
			fmt.Fprintf(tw, "    %s\tid=%s\tmenu=%s\t%d/%d\t%s\n", e.Type, strconv.Quote(clip(e.ID)), menu, e.Partition, e.Offset, e.Result)
		}
		tw.Flush()
		if o.MoreEvents > 0 {
			fmt.Fprintf(w, "    ... %d more events\n", o.MoreEvents)
		}
		for _, c := range o.Changelog {
			fmt.Fprintf(w, "    changelog %s: %s\n", c.Record, c.summary())
		}
	}
}

// WriteJSON prints the report as one JSON object, with at most show
// offending and uncertain entries each (show <= 0: all); "violations"
// always counts them all.
func (r *Report) WriteJSON(w io.Writer, show int) error {
	out := *r
	if show > 0 {
		out.Offending = out.Offending[:min(show, len(out.Offending))]
		out.Uncertain = out.Uncertain[:min(show, len(out.Uncertain))]
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(out)
}

// summary is the record in one line: its entries' types and ids.
func (c ChangelogView) summary() string {
	switch {
	case c.Tombstone:
		return "tombstone"
	case c.Invalid != "":
		return "invalid (" + c.Invalid + ")"
	}
	parts := make([]string, len(c.History))
	for i, e := range c.History {
		parts[i] = e.Type + " " + strconv.Quote(clip(e.ID))
		if e.MenuID != "" {
			parts[i] += " menu=" + e.MenuID
		}
	}
	s := strings.Join(parts, ", ")
	if c.MoreEntries > 0 {
		s += fmt.Sprintf(", ... %d more", c.MoreEntries)
	}
	return s
}
