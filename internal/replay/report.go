package replay

import (
	"fmt"
	"io"
	"strings"
)

// WriteText writes the report for a person: one line when nothing differs;
// otherwise the count per kind, then the offending orders kept, each with
// where its latest record is and what differs.
func (r *Report) WriteText(w io.Writer) error {
	if r.OK() {
		_, err := fmt.Fprintf(w, "replayed %d processes from %d partitions: no differences\n", r.Processes, r.Partitions)
		return err
	}
	var b strings.Builder
	fmt.Fprintf(&b, "replayed %d processes from %d partitions of %s (%d records): %d orders differ\n",
		r.Processes, r.Partitions, r.Topic, r.Records, r.Differing)
	nameW, countW := 0, 0
	for _, k := range Kinds {
		if n := r.Counts[k]; n > 0 {
			nameW, countW = max(nameW, len(k)), max(countW, len(fmt.Sprint(n)))
		}
	}
	for _, k := range Kinds {
		if n := r.Counts[k]; n > 0 {
			fmt.Fprintf(&b, "  %-*s  %*d\n", nameW, k, countW, n)
		}
	}
	switch n := len(r.Orders); {
	case n == r.Differing:
		fmt.Fprintf(&b, "offending orders:\n")
	default:
		fmt.Fprintf(&b, "first %d of %d offending orders:\n", n, r.Differing)
	}
	for _, o := range r.Orders {
		fmt.Fprintf(&b, "order %q: %s partition %d offset %d, %s", o.Key, r.Topic, o.Partition, o.Offset, o.Status)
		if o.Entries > 0 {
			fmt.Fprintf(&b, ", %d entries", o.Entries)
		}
		b.WriteString("\n")
		for _, p := range o.Problems {
			fmt.Fprintf(&b, "  %s: %s\n", p.Kind, p.Detail)
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}
