package processor

import (
	"errors"
	"fmt"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
	"log/slog"
	"regexp"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/catering-match/catering-match/state"
	"github.com/catering-match/catering-match/topics"
)

// Config configures a Processor. Start from DefaultConfig and change what
// you need; New calls Validate.
type Config struct {
	// Brokers are the seed brokers, host:port.
	Brokers []string
	// Group is the consumer group id shared by every instance.
	Group string
	// InstanceID names this instance. It is the static group membership id
	// (unless StaticMembership is false) and makes the transactional id
	// "<Group>-<InstanceID>": it must be unique among running instances and
	// stable across restarts of the same instance.
	InstanceID string
	// StaticMembership keeps this instance's partitions assigned to it
	// across a quick restart (KIP-345), so that it resumes in seconds.
	StaticMembership bool
	// Topics are the topic names; Spec says how to create missing ones.
	Topics topics.Names
	Spec   topics.Spec
	// Limits are the process limits: match timeout, retention, history.
	Limits state.Limits
	// TickInterval is how often deadlines and retention are applied.
	TickInterval time.Duration
	// MaxPollRecords bounds the records of one poll. A poll that comes
	// back full (the group lags) is topped up with what is already
	// buffered, up to MaxBatchRecords, in the same transaction.
	MaxPollRecords int
	// MaxBatchRecords bounds the records handled in one transaction; 0
	// means 8 × MaxPollRecords.
	MaxBatchRecords int
	// SessionTimeout is the group session timeout: how long a crashed
	// member keeps its partitions.
	SessionTimeout time.Duration
	// TransactionTimeout is how long the broker keeps a transaction open
	// before aborting it: it bounds how long a crashed instance's open
	// transaction blocks read_committed readers.
	TransactionTimeout time.Duration
	// RestoreConcurrency is how many partitions are restored at once.
	RestoreConcurrency int
	// Members is how many consumer group members this process runs, each
	// with its own client, transactional producer, partitions and loop (as
	// Kafka Streams runs num.stream.threads). While one member's
	// transaction ends, another's loop works. Member 0 uses InstanceID;
	// member i > 0 uses "<InstanceID>.<i>" as its static membership id and
	// in its transactional id (see MemberInstanceID), so no instance's id
	// may be another's followed by a dot and a number.
	Members int
	// Workers is how many partitions (or shares of a large partition) each
	// member decodes and applies in parallel within one poll, all in the
	// poll's one transaction; 0 means one per CPU shared by the members,
	// at least one: runtime.GOMAXPROCS(0) / Members.
	Workers int
	// Namespace prefixes every metric name (default "catering_match").
	Namespace string
	// ClientOpts are extra franz-go options for every client (TLS, SASL, ...).
	ClientOpts []kgo.Opt
	// Clock is the processing-time clock; time.Now when nil.
	Clock func() time.Time
	// Logger receives the service's logs; slog.Default() when nil.
	Logger *slog.Logger
	// TracerProvider turns tracing on (nil: off, nothing is traced); see
	// tracing.go for the spans. Propagator writes and reads the trace
	// context in record headers (nil: W3C traceparent).
	TracerProvider trace.TracerProvider
	Propagator     propagation.TextMapPropagator

	// Registerer, when set, receives the service's metrics and franz-go's
	// client metrics (kprom).
	Registerer prometheus.Registerer
	// AbortEvery, a test-only switch: when > 0, every transaction is
	// aborted with probability 1/AbortEvery instead of committed.
	AbortEvery int
}

// DefaultConfig returns the defaults: the contract's topic names and limits,
// a one-second tick and a 10 s session timeout.
func DefaultConfig() Config {
	return Config{
		Group:              "catering-match",
		StaticMembership:   true,
		Topics:             topics.DefaultNames(),
		Spec:               topics.Spec{Partitions: 6, ReplicationFactor: -1},
		Limits:             state.DefaultLimits(),
		TickInterval:       time.Second,
		MaxPollRecords:     1000,
		SessionTimeout:     10 * time.Second,
		TransactionTimeout: 20 * time.Second,
		RestoreConcurrency: 4,
		Members:            1,
		Namespace:          "catering_match",
	}
}

var metricName = regexp.MustCompile(`^[a-zA-Z_][a-zA-Z0-9_]*$`)

var idPattern = regexp.MustCompile(`^[A-Za-z0-9._-]{1,200}$`)

// Validate reports the first setting that cannot work, saying how to fix it.
func (c *Config) Validate() error {
	var errs []error
	if len(c.Brokers) == 0 {
		errs = append(errs, errors.New("no brokers: set --brokers (CATERING_BROKERS) to host:port[,host:port]"))
	}
	if !idPattern.MatchString(c.Group) {
		errs = append(errs, fmt.Errorf("group %q: use 1-200 letters, digits, '.', '_' or '-'", c.Group))
	}
	if !idPattern.MatchString(c.InstanceID) {
		errs = append(errs, fmt.Errorf("instance id %q: use 1-200 letters, digits, '.', '_' or '-', unique per running instance", c.InstanceID))
	}
	if err := c.Topics.Validate(); err != nil {
		errs = append(errs, err)
	}
	if err := c.Limits.Validate(); err != nil {
		errs = append(errs, err)
	}
	if c.TickInterval <= 0 {
		errs = append(errs, fmt.Errorf("tick interval %v must be positive", c.TickInterval))
	}
	if c.MaxPollRecords < 1 {
		errs = append(errs, fmt.Errorf("max poll records %d must be at least 1", c.MaxPollRecords))
	}
	if c.MaxBatchRecords != 0 && c.MaxBatchRecords < c.MaxPollRecords {
		errs = append(errs, fmt.Errorf("max batch records %d must be at least max poll records %d", c.MaxBatchRecords, c.MaxPollRecords))
	}
	if c.SessionTimeout < 6*time.Second || c.SessionTimeout > 5*time.Minute {
		errs = append(errs, fmt.Errorf("session timeout %v must be between 6s and 5m (the brokers' usual group.min/max.session.timeout.ms)", c.SessionTimeout))
	}
	if c.TransactionTimeout < time.Second || c.TransactionTimeout > 15*time.Minute {
		errs = append(errs, fmt.Errorf("transaction timeout %v must be between 1s and 15m (the brokers' default transaction.max.timeout.ms)", c.TransactionTimeout))
	}
	if c.RestoreConcurrency < 1 {
		errs = append(errs, fmt.Errorf("restore concurrency %d must be at least 1", c.RestoreConcurrency))
	}
	if c.Members < 1 || c.Members > 64 {
		errs = append(errs, fmt.Errorf("members %d must be between 1 and 64 (group members in this process)", c.Members))
	}
	if c.Workers < 0 {
		errs = append(errs, fmt.Errorf("workers %d must not be negative (0: one per CPU)", c.Workers))
	}
	if c.Namespace != "" && !metricName.MatchString(c.Namespace) {
		errs = append(errs, fmt.Errorf("metrics namespace %q: use letters, digits and '_', not starting with a digit", c.Namespace))
	}
	if c.AbortEvery < 0 {
		errs = append(errs, fmt.Errorf("abort-every %d must not be negative", c.AbortEvery))
	}
	return errors.Join(errs...)
}

// TransactionalID is the transactional id of this instance's first member
// (the only one unless Members > 1).
func (c *Config) TransactionalID() string { return c.MemberTransactionalID(0) }

// MemberInstanceID is member i's static membership id: InstanceID for the
// first, "<InstanceID>.<i>" for the others.
func (c *Config) MemberInstanceID(i int) string {
	if i == 0 {
		return c.InstanceID
	}
	return c.InstanceID + "." + strconv.Itoa(i)
}

// MemberTransactionalID is member i's transactional id,
// "<Group>-<MemberInstanceID(i)>": stable across restarts, so that a member
// fences the transaction its previous incarnation left open.
func (c *Config) MemberTransactionalID(i int) string { return c.Group + "-" + c.MemberInstanceID(i) }
