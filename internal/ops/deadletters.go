package ops

import (
	"context"
	"fmt"
	"maps"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/catering-match/catering-match/processor"
	"github.com/catering-match/catering-match/topics"
)

// redriveKinds are the reason kinds `catering redrive --reason` takes that
// the service's own kinds map to one to one.
var redriveKinds = []string{
	topics.MalformedEmptyKey, topics.MalformedNotObject, topics.MalformedMissing, topics.MalformedEmpty,
	topics.MalformedWrongType, topics.MalformedOverLimit, topics.MalformedKeyMismatch, "history_full",
}

// valuePreview is how much of a dead letter's value the panel shows.
const valuePreview = 200

// deadLetterBody is the body of GET /dead-letters.
type deadLetterBody struct {
	Topic string `json:"topic"`
	// SinceStart counts, by reason kind, the dead letters this instance
	// wrote since it started: its counters, as the metric
	// events_dead_lettered_total has them. The topic holds those of every
	// instance and every run.
	SinceStart map[string]int64 `json:"since_start"`
	// InLatest counts, by reason kind, the latest dead letters read from
	// the topic ("" for one that decodes now).
	InLatest   map[string]int   `json:"in_latest"`
	Partitions []dlqPartition   `json:"partitions"`
	Latest     []deadLetterView `json:"latest"`
	// ByReason gives, per reason kind seen, the commands that send every
	// dead letter of that kind back.
	ByReason []reasonCommands `json:"by_reason"`
	// Note says what the commands leave to the reader.
	Note string `json:"note"`
}

type dlqPartition struct {
	Partition int32 `json:"partition"`
	Start     int64 `json:"start"`
	End       int64 `json:"end"` // the last stable offset
}

type deadLetterView struct {
	Partition       int32     `json:"partition"` // of the DLQ
	Offset          int64     `json:"offset"`
	Time            time.Time `json:"time"`
	Key             string    `json:"key"`
	Reason          string    `json:"reason"`
	Kind            string    `json:"kind"`
	Topic           string    `json:"topic"` // where it came from
	SourcePartition int32     `json:"source_partition"`
	SourceOffset    int64     `json:"source_offset"`
	Value           string    `json:"value"` // its first valuePreview bytes, as text
	ValueBytes      int       `json:"value_bytes"`
	DryRun          string    `json:"redrive_dry_run,omitempty"`
	Redrive         string    `json:"redrive,omitempty"`
	NoRedrive       string    `json:"no_redrive,omitempty"` // why there is no command
}

type reasonCommands struct {
	Kind    string `json:"kind"`
	DryRun  string `json:"redrive_dry_run"`
	Redrive string `json:"redrive"`
}

func (h *handler) deadLetters(w http.ResponseWriter, r *http.Request) {
	if h.op == nil {
		notAvailable(w)
		return
	}
	limit := defaultDeadLimit
	q := r.URL.Query()
	for name := range q {
		if name != "limit" {
			writeError(w, http.StatusBadRequest, fmt.Sprintf("unknown parameter %q: use limit", name))
			return
		}
	}
	if s := q.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > maxDeadLimit {
			writeError(w, http.StatusBadRequest, fmt.Sprintf("limit %q: use a whole number from 1 to %d (default %d)", s, maxDeadLimit, defaultDeadLimit))
			return
		}
		limit = n
	}
	ctx, cancel := context.WithTimeout(r.Context(), deadLetterTimeout)
	defer cancel()
	dl, err := h.op.DeadLetters(ctx, limit)
	if err != nil {
		h.fail(w, r, fmt.Errorf("read dead letters: %w", err))
		return
	}
	cfg := h.op.Config()
	out := deadLetterBody{Topic: dl.Topic, SinceStart: h.op.Stats().DeadLetteredByKind(), InLatest: map[string]int{},
		Partitions: []dlqPartition{}, Latest: []deadLetterView{},
		Note: "Run the dry run first: it lists what would go and writes nothing. Add the TLS and SASL flags you connect with (see catering redrive --help)."}
	if out.SinceStart == nil {
		out.SinceStart = map[string]int64{}
	}
	for _, p := range dl.Partitions {
		out.Partitions = append(out.Partitions, dlqPartition{Partition: p.Partition, Start: p.Start, End: p.End})
	}
	for _, d := range dl.Latest {
		out.InLatest[d.Kind]++
		out.Latest = append(out.Latest, deadLetterOf(cfg, dl.Topic, d))
	}
	kinds := map[string]bool{}
	for k := range out.SinceStart {
		kinds[k] = true
	}
	for k := range out.InLatest {
		kinds[k] = true
	}
	for _, k := range slices.Sorted(maps.Keys(kinds)) {
		if !slices.Contains(redriveKinds, k) {
			continue
		}
		args := append(redriveBase(cfg, dl.Topic, cfg.Topics.Events), "--reason", k)
		out.ByReason = append(out.ByReason, reasonCommands{Kind: k,
			DryRun: command(append(args, "--dry-run")), Redrive: command(args)})
	}
	if out.ByReason == nil {
		out.ByReason = []reasonCommands{}
	}
	writeJSON(w, http.StatusOK, out)
}

func deadLetterOf(cfg processor.Config, dlqTopic string, d processor.DeadLetter) deadLetterView {
	v := deadLetterView{Partition: d.Partition, Offset: d.Offset, Time: d.Timestamp.UTC(), Key: string(d.Key),
		Reason: d.Reason, Kind: d.Kind, Topic: d.Topic, SourcePartition: d.SourcePartition, SourceOffset: d.SourceOffset,
		Value: preview(d.Value), ValueBytes: len(d.Value)}
	if d.Topic == "" || d.SourcePartition < 0 {
		v.NoRedrive = "no dlq-topic or dlq-partition header: redrive cannot tell where it came from"
		return v
	}
	args := redriveBase(cfg, dlqTopic, d.Topic)
	if slices.Contains(redriveKinds, d.Kind) {
		args = append(args, "--reason", d.Kind)
	}
	if len(d.Key) > 0 {
		args = append(args, "--order", string(d.Key))
	}
	args = append(args, "--partition", strconv.Itoa(int(d.Partition)),
		"--from", strconv.FormatInt(d.Offset, 10), "--to", strconv.FormatInt(d.Offset+1, 10))
	v.DryRun, v.Redrive = command(append(args, "--dry-run")), command(args)
	return v
}

// redriveBase is the start of a redrive command line for dead letters of
// events topic: the flags that differ from redrive's defaults, and the
// brokers and DLQ always.
func redriveBase(cfg processor.Config, dlqTopic, events string) []string {
	args := []string{"catering", "redrive", "--brokers", strings.Join(cfg.Brokers, ","), "--dlq-topic", dlqTopic}
	if events != topics.DefaultNames().Events {
		args = append(args, "--events-topic", events)
	}
	if cfg.Group != processor.DefaultConfig().Group {
		args = append(args, "--group", cfg.Group) // the service's group, whose processing of the copies redrive waits for
	}
	return args
}

var shellSafe = regexp.MustCompile(`^[A-Za-z0-9._:/,=@+%-]+$`)

// command joins args into a line for a POSIX shell, quoting where needed.
func command(args []string) string {
	out := make([]string, len(args))
	for i, a := range args {
		if shellSafe.MatchString(a) {
			out[i] = a
		} else {
			out[i] = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
		}
	}
	return strings.Join(out, " ")
}

// preview is the start of a value as text, cut on a rune boundary.
func preview(b []byte) string {
	if len(b) <= valuePreview {
		return strings.ToValidUTF8(string(b), "\uFFFD")
	}
	n := valuePreview
	for n > 0 && !utf8.RuneStart(b[n]) {
		n--
	}
	return strings.ToValidUTF8(string(b[:n]), "\uFFFD") + "…"
}
