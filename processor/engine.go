package processor

import (
	"errors"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/catering-match/catering-match/state"
	"github.com/catering-match/catering-match/topics"
)

// Definition describes one process manager to the engine: what its state
// is and how it decides (Process), how an input record becomes an event
// (Decode), how a history is stored in the changelog (Codec) and which
// records each decision emits (Emit). Everything else is the engine's: the
// consumer group, the transaction, the changelog, restores, timers,
// queries and metrics.
type Definition[S any] struct {
	// Process folds, decides and expires (see state.Definition).
	Process state.Definition[S]
	// Decode turns an input record into the key of its process and the
	// event. The key must be the record's key: the input, the changelog
	// and the stores are partitioned by it, so the engine dead-letters a
	// record whose process key differs (kind key_mismatch). An error
	// dead-letters the record too: a *topics.MalformedError
	// gives the dlq-reason (Reason) and the metric label (Kind); any other
	// error is dead-lettered with kind "malformed" and its text as reason.
	// An event whose type the projection has no handler for is skipped.
	// Decode is called from several goroutines at once.
	Decode func(r *kgo.Record) (key string, ev state.Entry, err error)
	// Codec stores a history as a changelog value. nil: ProcessRecord, the
	// JSON process record.
	Codec Codec
	// Emit returns the records a decision produces, in order; nil for
	// none. A record without a Topic goes to the commands topic; one
	// without a Key is keyed by the process key. Records go to the
	// partition of their key (murmur2, as Kafka's default partitioner).
	// Emit is called from several goroutines at once.
	Emit func(d Decision[S]) []*kgo.Record
	// Status names a state for metrics and views (bounded: it is a metric
	// label). nil: "pending" until terminal, then "terminal".
	Status func(s S) string
	// Statuses lists every name Status returns, so that each has a
	// live_processes series even at zero. nil: pending and terminal.
	Statuses []string
	// Summary, when set, says what Status and Process.Terminal say of the
	// fold of history, without building the state. A restore calls it for
	// every changelog record, to count the processes by status and to
	// queue their timers, and leaves the fold to the first event or query
	// that reads a process. It must agree with them on every history (the
	// catering definition's is checked against the fold by a property
	// test). nil: the fold, asked Status and Process.Terminal (a restore
	// then folds every record).
	Summary func(history []state.Entry) (status string, terminal bool)
	// Logs names things in the service's logs.
	Logs Logs
}

// Logs names things in the service's logs, for operators.
type Logs struct {
	// Key is the attribute a process key is logged under (default "key").
	Key string
	// Deadline is the message logged when a timer decides a process
	// (default "process reached its deadline").
	Deadline string
}

// Decision is a decision entry the process recorded, with what led to it.
type Decision[S any] struct {
	Key   string
	Entry state.Entry // the decision (Type, ID, Ref); At is the processing time
	State S           // the state after the decision
	// Cause is the event that led to the decision; nil for a timer (the
	// process reached its deadline).
	Cause *state.Entry
	// Record is the input record of Cause; nil for a timer.
	Record *kgo.Record
	// Started is the processing time of the process's first entry.
	Started time.Time
}

// Codec encodes a process's history as a changelog record value and
// decodes it back. Decode gets the record key and value; it returns the
// process key, which must be the record key, and the history.
type Codec interface {
	Encode(key string, history []state.Entry) []byte
	Decode(key, value []byte) (string, []state.Entry, error)
}

// AppendCodec is a Codec that can also append a record to a buffer. The
// engine then encodes the changelog records of one piece of work into one
// buffer instead of allocating each.
type AppendCodec interface {
	Codec
	AppendEncode(dst []byte, key string, history []state.Entry) []byte
}

// ViewCodec is a Codec that can also decode without copying: the key and
// the history's strings may be views of value (or key), and the entries
// are appended to dst. A restore decodes every changelog record once and
// the store copies what it keeps, so the engine uses DecodeView where a
// codec has it: no allocation per record outlives the record.
type ViewCodec interface {
	Codec
	DecodeView(key, value []byte, dst []state.Entry) (string, []state.Entry, error)
}

// ProcessRecord is the default Codec: the JSON process record
// {"schema":1,"order_id":...,"history":[...]} (docs/contract.md).
var ProcessRecord Codec = processRecord{}

type processRecord struct{}

func (processRecord) Encode(key string, h []state.Entry) []byte { return topics.EncodeProcess(key, h) }
func (processRecord) AppendEncode(dst []byte, key string, h []state.Entry) []byte {
	return topics.AppendProcess(dst, key, h)
}
func (processRecord) Decode(key, value []byte) (string, []state.Entry, error) {
	return topics.DecodeProcess(key, value)
}
func (processRecord) DecodeView(key, value []byte, dst []state.Entry) (string, []state.Entry, error) {
	return topics.DecodeProcessView(key, value, dst)
}

// WithDefaults is d as the engine runs it: the optional hooks filled with
// their defaults. It reports a required hook that is missing.
func (d Definition[S]) WithDefaults() (Definition[S], error) {
	if d.Decode == nil {
		return d, errors.New("process definition needs Decode (input record to event)")
	}
	if d.Codec == nil {
		d.Codec = ProcessRecord
	}
	if d.Emit == nil {
		d.Emit = func(Decision[S]) []*kgo.Record { return nil }
	}
	if d.Logs.Key == "" {
		d.Logs.Key = "key"
	}
	if d.Logs.Deadline == "" {
		d.Logs.Deadline = "process reached its deadline"
	}
	if d.Summary != nil && d.Status == nil {
		return d, errors.New("process definition has Summary but no Status: Summary must agree with a Status the definition gives")
	}
	if d.Status == nil {
		d.Statuses = []string{"pending", "terminal"}
		terminal := d.Process.Terminal
		d.Status = func(s S) string {
			if terminal != nil && terminal(s) {
				return "terminal"
			}
			return "pending"
		}
	}
	if d.Summary == nil {
		fold, status, terminal := d.Process.Projection.Fold, d.Status, d.Process.Terminal
		d.Summary = func(h []state.Entry) (string, bool) {
			s := fold(h)
			return status(s), terminal(s)
		}
	}
	return d, nil
}
