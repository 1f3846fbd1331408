package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	"github.com/peterbourgon/ff/v3/ffcli"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/catering-match/catering-match/state"
	"github.com/catering-match/catering-match/topics"
)

// eventKinds are the event kinds publish names on its command line.
var eventKinds = map[string]string{
	"customer-confirmed": state.CustomerConfirmedMenu,
	"caterer-confirmed":  state.CatererConfirmedMenu,
	"caterer-declined":   state.CatererDeclinedMenu,
}

type publishCmd struct {
	conn     connFlags
	topic    string
	order    string
	menu     string
	id       string
	data     string
	typ      string
	file     string
	raw      bool
	key      string
	inFlight int
	timeout  time.Duration

	stdin  io.Reader
	stdout io.Writer
	stderr io.Writer
}

func newPublish(stdin io.Reader, stdout io.Writer, stderr *trackingWriter) *ffcli.Command {
	c := &publishCmd{stdin: stdin, stdout: stdout, stderr: stderr}
	fs := flag.NewFlagSet("catering publish", flag.ContinueOnError)
	c.conn.register(fs)
	fs.StringVar(&c.topic, "events-topic", topics.DefaultNames().Events, "events `topic` to publish to")
	fs.StringVar(&c.order, "order", "", "order `id` of the event; also its record key (required for a single event)")
	fs.StringVar(&c.menu, "menu", "", "menu `id` of the event; empty means the order's single default menu")
	fs.StringVar(&c.id, "id", "", "event `id`; a new UUID v4 when empty (resend an id to test deduplication)")
	fs.StringVar(&c.data, "data", "", "event data, a JSON `object`, e.g. '{\"k\":1}'")
	fs.StringVar(&c.typ, "type", "", "event `type` instead of a kind, for any other type (e.g. other teams' events)")
	fs.StringVar(&c.file, "file", "", "JSON lines `file` of events, one object per line; - for stdin")
	fs.BoolVar(&c.raw, "raw", false, "with --file: send each line as is, unchecked (to send malformed records on purpose)")
	fs.StringVar(&c.key, "key", "", "with --raw: record `key` for lines without a string order_id")
	fs.IntVar(&c.inFlight, "in-flight", 1000, "with --file: most `records` buffered or in flight at once")
	fs.DurationVar(&c.timeout, "timeout", 30*time.Second, "give up on a record not acknowledged within this `duration`")
	return leaf{
		name:       "publish",
		shortUsage: "catering publish customer-confirmed|caterer-confirmed|caterer-declined --order ID [--menu ID] [flags]\n  catering publish --type TYPE --order ID [flags]\n  catering publish [--file FILE|-] [--raw [--key KEY]] [flags]",
		shortHelp:  "publish one event, or JSON lines of events, to the events topic",
		longHelp: `A single event is built as docs/contract.md defines it: id a new UUID v4 unless
--id is given, occurred_at now, keyed by the order id, and sent synchronously.

With --file (or - or a pipe on stdin and no event kind), each non-blank line
is one event object. A missing id or occurred_at is filled in; a line that is
not a well-formed event (not a JSON object, no order_id, ...) is reported
with its line number and not sent, and publish exits 1 after sending the
good lines. --raw sends every line exactly as it is, keyed by its order_id
when it has one, else by --key.`,
		fs:   fs,
		exec: c.exec,
	}.command(stderr)
}

func (c *publishCmd) exec(ctx context.Context, args []string) error {
	if len(args) > 1 {
		return usagef("too many arguments %q: give at most one event kind", args)
	}
	if c.topic == "" {
		return usagef("--events-topic is empty: name the events topic (default %s)", topics.DefaultNames().Events)
	}
	if c.timeout <= 0 {
		return usagef("--timeout %v must be positive, e.g. 30s", c.timeout)
	}
	typ := c.typ
	if len(args) == 1 {
		t, ok := eventKinds[args[0]]
		if !ok {
			return usagef("unknown event kind %q: use customer-confirmed, caterer-confirmed or caterer-declined, or --type for any other type", args[0])
		}
		if c.typ != "" {
			return usagef("both event kind %s and --type %s given: give one", args[0], c.typ)
		}
		typ = t
	}
	if typ != "" {
		if c.file != "" || c.raw || c.key != "" {
			return usagef("--file, --raw and --key are for JSON lines; a single event takes --order, --menu, --id and --data")
		}
		return c.publishOne(ctx, typ)
	}

	for _, f := range []struct{ name, value string }{{"order", c.order}, {"menu", c.menu}, {"id", c.id}, {"data", c.data}} {
		if f.value != "" {
			return usagef("--%s is for a single event: name an event kind (customer-confirmed, caterer-confirmed, caterer-declined) or --type; with --file each line carries its own fields", f.name)
		}
	}
	if c.key != "" && !c.raw {
		return usagef("--key applies only with --raw: checked lines are keyed by their order_id")
	}
	if c.inFlight < 1 {
		return usagef("--in-flight %d must be at least 1", c.inFlight)
	}
	in, name, closeIn, err := c.input()
	if err != nil {
		return err
	}
	defer closeIn()
	return c.publishLines(ctx, in, name)
}

// input returns the JSON lines to read, their name for messages and how to
// close them: --file, or stdin when it is "-" or when no file is given and
// stdin is not a terminal.
func (c *publishCmd) input() (io.Reader, string, func(), error) {
	switch c.file {
	case "-":
		if c.stdin == nil {
			return nil, "", nil, usagef("--file -: there is no stdin to read")
		}
		return c.stdin, "stdin", func() {}, nil
	case "":
		if c.stdin == nil || isTerminal(c.stdin) {
			return nil, "", nil, usagef("nothing to publish: name an event kind with --order (catering publish customer-confirmed --order 42), or give --file events.jsonl, or pipe JSON lines to stdin")
		}
		return c.stdin, "stdin", func() {}, nil
	}
	f, err := os.Open(c.file)
	if err != nil {
		return nil, "", nil, usagef("--file %s: %v", c.file, err)
	}
	return f, c.file, func() { f.Close() }, nil
}

func isTerminal(r io.Reader) bool {
	f, ok := r.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

func (c *publishCmd) publishOne(ctx context.Context, typ string) error {
	switch {
	case c.order == "":
		return usagef("missing --order: give the order id the event is for, e.g. --order 42")
	case len(c.order) > topics.MaxFieldBytes:
		return usagef("--order is %d bytes, over the limit of %d", len(c.order), topics.MaxFieldBytes)
	case len(c.menu) > topics.MaxFieldBytes:
		return usagef("--menu is %d bytes, over the limit of %d", len(c.menu), topics.MaxFieldBytes)
	case len(c.id) > topics.MaxFieldBytes:
		return usagef("--id is %d bytes, over the limit of %d", len(c.id), topics.MaxFieldBytes)
	}
	ev := topics.Event{ID: c.id, Type: typ, OrderID: c.order, MenuID: c.menu, OccurredAt: time.Now().UTC().Format(time.RFC3339)}
	if ev.ID == "" {
		ev.ID = uuid.NewString()
	}
	if c.data != "" {
		d := bytes.TrimSpace([]byte(c.data))
		if len(d) == 0 || d[0] != '{' || !json.Valid(d) {
			return usagef("--data %q is not a JSON object: use e.g. --data '{\"note\":\"x\"}'", c.data)
		}
		ev.Data = d
	}
	value, err := topics.EncodeEvent(ev)
	if err != nil {
		return fmt.Errorf("encode event: %w", err)
	}
	if _, err := topics.DecodeEvent([]byte(ev.OrderID), value); err != nil {
		return usagef("the event would be dead-lettered: %v", err) // a safety net: the checks above should catch it
	}

	cl, err := c.conn.client(c.stderr, kgo.RecordDeliveryTimeout(c.timeout))
	if err != nil {
		return err
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	if err := checkTopic(ctx, cl, c.topic, "events-topic"); err != nil {
		return err
	}
	rec := &kgo.Record{Topic: c.topic, Key: []byte(ev.OrderID), Value: value}
	if err := cl.ProduceSync(ctx, rec).FirstErr(); err != nil {
		return fmt.Errorf("publish %s for order %s to %s: %w", typ, ev.OrderID, c.topic, err)
	}
	menu := ""
	if ev.MenuID != "" {
		menu = " menu=" + ev.MenuID
	}
	fmt.Fprintf(c.stdout, "published %s order=%s%s id=%s to %s partition %d offset %d\n",
		ev.Type, ev.OrderID, menu, ev.ID, rec.Topic, rec.Partition, rec.Offset)
	return nil
}

// line is one line of input, numbered from 1.
type line struct {
	n    int
	text []byte
	err  error
}

func readLines(r io.Reader, out chan<- line) {
	defer close(out)
	br := bufio.NewReaderSize(r, 64<<10)
	for n := 1; ; n++ {
		text, err := br.ReadBytes('\n')
		if len(text) > 0 {
			out <- line{n: n, text: text}
		}
		if err != nil {
			if !errors.Is(err, io.EOF) {
				out <- line{n: n, err: err}
			}
			return
		}
	}
}

// maxReported bounds the delivery errors printed one by one.
const maxReported = 20

func (c *publishCmd) publishLines(ctx context.Context, in io.Reader, name string) error {
	cl, err := c.conn.client(c.stderr,
		kgo.MaxBufferedRecords(c.inFlight),
		kgo.RecordDeliveryTimeout(c.timeout),
	)
	if err != nil {
		return err
	}
	defer cl.Close()
	checkCtx, cancel := context.WithTimeout(ctx, c.timeout)
	err = checkTopic(checkCtx, cl, c.topic, "events-topic")
	cancel()
	if err != nil {
		return err
	}

	var queued, acked, failed atomic.Int64
	rejected := 0
	done := make(chan struct{})
	progressDone := make(chan struct{})
	go func() {
		defer close(progressDone)
		tick := time.NewTicker(time.Second)
		defer tick.Stop()
		for {
			select {
			case <-done:
				return
			case <-tick.C:
				fmt.Fprintf(c.stderr, "published %d/%d\n", acked.Load(), queued.Load())
			}
		}
	}()

	// An interrupt stops the reading; what is already buffered is still
	// delivered (within --timeout), so that the summary is exact.
	produceCtx := context.WithoutCancel(ctx)
	lines := make(chan line, 256)
	go readLines(in, lines) // not stopped on interrupt: reading stdin cannot be cancelled
	var readErr error
	now := time.Now().UTC()
read:
	for {
		var l line
		var ok bool
		select {
		case <-ctx.Done():
			break read
		case l, ok = <-lines:
		}
		if !ok {
			break read
		}
		if l.err != nil {
			readErr = fmt.Errorf("read %s after line %d: %w", name, l.n-1, l.err)
			break read
		}
		rec, reason := c.record(l.text, now)
		if rec == nil {
			if reason != "" {
				rejected++
				fmt.Fprintf(c.stderr, "%s line %d: %s: not sent\n", name, l.n, reason)
			}
			continue
		}
		n := l.n
		queued.Add(1)
		cl.Produce(produceCtx, rec, func(r *kgo.Record, err error) {
			if err == nil {
				acked.Add(1)
				return
			}
			if failed.Add(1) <= maxReported {
				fmt.Fprintf(c.stderr, "%s line %d: not delivered: %v\n", name, n, err)
			}
		})
	}
	flushCtx, cancelFlush := context.WithTimeout(produceCtx, c.timeout)
	flushErr := cl.Flush(flushCtx)
	cancelFlush()
	close(done)
	<-progressDone
	if f := failed.Load(); f > maxReported {
		fmt.Fprintf(c.stderr, "... and %d more not delivered\n", f-maxReported)
	}

	summary := fmt.Sprintf("published %d/%d events to %s", acked.Load(), queued.Load(), c.topic)
	if rejected > 0 {
		summary += fmt.Sprintf("; %s rejected, not sent", plural(rejected, "line"))
	}
	if f := failed.Load(); f > 0 {
		summary += fmt.Sprintf("; %d not delivered", f)
	}
	fmt.Fprintln(c.stdout, summary)

	var problems []string
	if ctx.Err() != nil {
		problems = append(problems, "interrupted before the end of "+name)
	}
	if flushErr != nil {
		problems = append(problems, fmt.Sprintf("records still unacknowledged after --timeout %v: %v", c.timeout, flushErr))
	}
	if readErr != nil {
		problems = append(problems, readErr.Error())
	}
	if rejected > 0 {
		problems = append(problems, fmt.Sprintf("%s of %s not well-formed events (see above; --raw sends lines unchecked)", plural(rejected, "line"), name))
	}
	if f := failed.Load(); f > 0 {
		problems = append(problems, fmt.Sprintf("%s not delivered (see above)", plural(int(f), "record")))
	}
	if len(problems) > 0 {
		return errors.New(strings.Join(problems, "; "))
	}
	return nil
}

// record returns the record for one input line, or nil and why the line is
// not sent (an empty reason for a blank line).
func (c *publishCmd) record(text []byte, now time.Time) (*kgo.Record, string) {
	if c.raw {
		value := bytes.TrimSuffix(bytes.TrimSuffix(text, []byte("\n")), []byte("\r"))
		if len(bytes.TrimSpace(value)) == 0 {
			return nil, ""
		}
		rec := &kgo.Record{Topic: c.topic, Value: value}
		var ev struct {
			OrderID any `json:"order_id"`
		}
		if json.Unmarshal(value, &ev) == nil {
			if s, ok := ev.OrderID.(string); ok && s != "" {
				rec.Key = []byte(s)
			}
		}
		if rec.Key == nil && c.key != "" {
			rec.Key = []byte(c.key)
		}
		return rec, ""
	}
	value := bytes.TrimSpace(text)
	if len(value) == 0 {
		return nil, ""
	}
	value, orderID, reason := completeEvent(value, now)
	if reason != "" {
		return nil, reason
	}
	return &kgo.Record{Topic: c.topic, Key: []byte(orderID), Value: value}, ""
}

// completeEvent fills a missing id (a new UUID v4) and occurred_at into an
// event object and checks it as the service will. It returns the value to
// send and the order id, or the reason the line is not a well-formed event.
func completeEvent(obj []byte, now time.Time) ([]byte, string, string) {
	var fields map[string]json.RawMessage
	if obj[0] != '{' || json.Unmarshal(obj, &fields) != nil {
		return nil, "", "not a JSON object"
	}
	var orderID string
	if raw, ok := fields["order_id"]; !ok || json.Unmarshal(raw, &orderID) != nil || orderID == "" {
		return nil, "", "no order_id (a non-empty string: the record key)"
	}
	var fills []string
	replace := false
	for _, f := range []struct {
		name  string
		value func() string
	}{
		{"id", uuid.NewString},
		{"occurred_at", func() string { return now.Format(time.RFC3339) }},
	} {
		raw, ok := fields[f.name]
		if ok && string(raw) != "null" {
			continue
		}
		v, _ := json.Marshal(f.value())
		fills = append(fills, fmt.Sprintf("%q:%s", f.name, v))
		fields[f.name] = v
		replace = replace || ok // an explicit null: re-encode rather than repeat the key
	}
	switch {
	case replace:
		obj, _ = json.Marshal(fields) // raw messages that decoded: cannot fail
	case len(fills) > 0:
		// Prepend to keep the line's own fields as they are, in order.
		obj = append([]byte("{"+strings.Join(fills, ",")+","), obj[1:]...)
	}
	if _, err := topics.DecodeEvent([]byte(orderID), obj); err != nil {
		var m *topics.MalformedError
		if errors.As(err, &m) {
			return nil, "", m.Reason
		}
		return nil, "", err.Error()
	}
	return obj, orderID, ""
}

func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}
