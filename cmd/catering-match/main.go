// Command catering-match runs the catering process manager: a consumer
// group member that turns matching customer and caterer confirmations into
// exactly one ConfirmOrder command per order.
//
// With no --brokers it starts an embedded in-process broker (kfake) on
// 127.0.0.1, persisted under --data-dir, so that it runs on a fresh machine.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"regexp"
	"syscall"
	"time"

	"github.com/peterbourgon/ff/v3"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/catering-match/catering-match/internal/catering"
	"github.com/catering-match/catering-match/internal/cli"
	"github.com/catering-match/catering-match/internal/embedded"
	"github.com/catering-match/catering-match/internal/ops"
	"github.com/catering-match/catering-match/internal/tracing"
	"github.com/catering-match/catering-match/processor"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stderr))
}

// options are the command line: processor settings plus what only the
// binary knows (the embedded broker, logging).
type options struct {
	conn         cli.Conn
	cfg          processor.Config
	embeddedPort int
	dataDir      string
	httpAddr     string
	logLevel     string
	logFormat    string
}

func parse(args []string, stderr io.Writer) (*options, error) {
	o := &options{cfg: processor.DefaultConfig()}
	c := &o.cfg
	fs := flag.NewFlagSet("catering-match", flag.ContinueOnError)
	fs.SetOutput(stderr)
	o.conn.Register(fs, "", "Kafka seed brokers host:port[,host:port]; empty starts the embedded broker")
	fs.IntVar(&o.embeddedPort, "embedded-port", 9092, "port of the embedded broker on 127.0.0.1 (when --brokers is empty)")
	fs.StringVar(&o.dataDir, "data-dir", "./data", "directory the embedded broker persists to (when --brokers is empty)")
	fs.StringVar(&c.Group, "group", c.Group, "consumer group id shared by all instances")
	fs.StringVar(&c.InstanceID, "instance-id", defaultInstanceID(), "this instance's id: static membership id and transactional id suffix; unique per running instance, stable across its restarts")
	fs.BoolVar(&c.StaticMembership, "static-membership", c.StaticMembership, "keep partitions across a quick restart (KIP-345)")
	fs.StringVar(&c.Topics.Events, "events-topic", c.Topics.Events, "input events topic")
	fs.StringVar(&c.Topics.Commands, "commands-topic", c.Topics.Commands, "output ConfirmOrder commands topic")
	fs.StringVar(&c.Topics.Changelog, "changelog-topic", c.Topics.Changelog, "compacted process changelog topic (co-partitioned with the events topic)")
	fs.StringVar(&c.Topics.DLQ, "dlq-topic", c.Topics.DLQ, "dead-letter topic for malformed events")
	partitions := fs.Int("partitions", int(c.Spec.Partitions), "partitions for topics that do not exist yet")
	rf := fs.Int("replication-factor", int(c.Spec.ReplicationFactor), "replication factor for topics that do not exist yet; -1 for the broker default")
	fs.DurationVar(&c.Limits.Timeout, "match-timeout", c.Limits.Timeout, "a process still pending this long after its first event expires")
	fs.DurationVar(&c.Limits.Retention, "retention", c.Limits.Retention, "how long a finished process is kept (to absorb duplicates) before it is tombstoned")
	fs.IntVar(&c.Limits.MaxHistory, "max-history", c.Limits.MaxHistory, "events one process may hold; more go to the DLQ")
	fs.DurationVar(&c.TickInterval, "tick-interval", c.TickInterval, "how often deadlines and retention are applied")
	fs.IntVar(&c.MaxPollRecords, "max-poll-records", c.MaxPollRecords, "records of one poll at most")
	fs.IntVar(&c.MaxBatchRecords, "max-batch-records", c.MaxBatchRecords, "records of one transaction at most: a full poll (lag) is topped up with what is buffered, up to this; 0: 8 x --max-poll-records")
	fs.DurationVar(&c.SessionTimeout, "session-timeout", c.SessionTimeout, "group session timeout: how long a crashed instance keeps its partitions")
	fs.DurationVar(&c.TransactionTimeout, "transaction-timeout", c.TransactionTimeout, "broker-side timeout of an open transaction")
	fs.IntVar(&c.RestoreConcurrency, "restore-concurrency", c.RestoreConcurrency, "partitions restored from the changelog at once")
	fs.IntVar(&c.Members, "members", c.Members, "consumer group members this instance runs, each with its own client, transactional producer and partitions (like Kafka Streams' num.stream.threads); member i > 0 uses the instance id <instance-id>.<i>")
	fs.IntVar(&c.Workers, "workers", c.Workers, "partitions decoded and applied in parallel within one poll (one transaction) of each member; 0: one per CPU")
	fs.StringVar(&o.httpAddr, "http-addr", "127.0.0.1:8080", "address of the operations endpoints (/, /metrics, /healthz, /readyz, /orders); empty disables them")
	fs.StringVar(&o.logLevel, "log-level", "info", "debug, info, warn or error")
	fs.StringVar(&o.logFormat, "log-format", "text", "text or json")
	fs.IntVar(&c.AbortEvery, "test-abort-every", 0, "TESTING ONLY: abort about one transaction in N instead of committing it")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: catering-match [flags]\n\n"+
			"Runs the catering process manager. Every flag can also be set by an environment\n"+
			"variable: %s_ and the flag name in upper case, dashes as underscores\n"+
			"(--brokers is %s_BROKERS, --match-timeout is %s_MATCH_TIMEOUT).\n\nFlags:\n",
			cli.EnvPrefix, cli.EnvPrefix, cli.EnvPrefix)
		fs.PrintDefaults()
	}
	if err := ff.Parse(fs, args, ff.WithEnvVarPrefix(cli.EnvPrefix)); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected argument %q: catering-match takes only flags (see --help)", fs.Arg(0))
	}
	if *partitions < 1 || *partitions > 10000 {
		return nil, fmt.Errorf("--partitions %d: use 1-10000", *partitions)
	}
	if *rf != -1 && (*rf < 1 || *rf > 32767) {
		return nil, fmt.Errorf("--replication-factor %d: use -1 (broker default) or a positive number", *rf)
	}
	c.Spec.Partitions, c.Spec.ReplicationFactor = int32(*partitions), int16(*rf)
	if err := o.conn.Validate(); err != nil {
		return nil, err
	}
	probe := *c // validated here, before anything starts; the brokers come later
	probe.Brokers = []string{"127.0.0.1:9092"}
	if err := probe.Validate(); err != nil {
		return nil, err
	}
	if o.conn.Brokers == "" {
		m, _ := o.conn.Mechanism()
		if o.conn.TLSEnabled() || m != cli.MechanismNone {
			return nil, errors.New("TLS and SASL flags need --brokers: the embedded broker is plaintext without authentication")
		}
		if o.embeddedPort < 1 || o.embeddedPort > 65535 {
			return nil, fmt.Errorf("--embedded-port %d: use 1-65535, below 32768 recommended", o.embeddedPort)
		}
		if o.dataDir == "" {
			return nil, errors.New("--data-dir is empty: the embedded broker needs a directory to persist to")
		}
	}
	return o, nil
}

func run(ctx context.Context, args []string, stderr io.Writer) int {
	o, err := parse(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintf(stderr, "catering-match: %v\n", err)
		return 2
	}
	log, err := cli.NewLogger(stderr, o.logLevel, o.logFormat)
	if err != nil {
		fmt.Fprintf(stderr, "catering-match: %v\n", err)
		return 2
	}
	o.cfg.Logger = log

	if o.conn.Brokers == "" {
		b, err := embedded.Start(embedded.Options{Port: o.embeddedPort, DataDir: o.dataDir, Logger: log})
		if err != nil {
			log.Error("cannot start the embedded broker", "err", err)
			return 1
		}
		defer func() {
			b.Close()
			log.Info("embedded broker stopped", "data_dir", o.dataDir)
		}()
		o.conn.Brokers = b.Addr()
		log.Info("embedded Kafka broker (kfake) started; no Docker or Java needed",
			"addr", b.Addr(), "data_dir", o.dataDir)
		log.Info("publish an event with: go run ./cmd/catering publish customer-confirmed --order 42 --menu menu-a" +
			" (or kcat -P -b " + b.Addr() + " -t " + o.cfg.Topics.Events + " -K: -X topic.partitioner=murmur2_random)")
	}
	if o.cfg.Brokers, err = o.conn.Seeds(); err == nil {
		o.cfg.ClientOpts, err = o.conn.SecurityOpts()
	}
	if err != nil {
		fmt.Fprintf(stderr, "catering-match: %v\n", err)
		return 2
	}
	if o.conn.TLSInsecureSkipVerify {
		log.Warn("TLS certificate verification is OFF (--tls-insecure-skip-verify): for testing only")
	}
	// Fail fast, with the fix, on a wrong address, password or certificate.
	if err := o.conn.Check(ctx, append([]kgo.Opt{kgo.SeedBrokers(o.cfg.Brokers...)}, o.cfg.ClientOpts...)); err != nil {
		if ctx.Err() != nil {
			return 0
		}
		log.Error("cannot connect to Kafka", "conn", o.conn.Describe(), "err", err)
		return 1
	}
	if o.cfg.AbortEvery > 0 {
		log.Warn("TESTING ONLY: transactions are aborted at random", "abort_every", o.cfg.AbortEvery)
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	o.cfg.Registerer = reg
	if on, why := tracing.Enabled(os.Getenv); on {
		tp, prop, err := tracing.Setup(ctx, "catering-match", o.cfg.InstanceID)
		if err != nil {
			fmt.Fprintf(stderr, "catering-match: tracing: %v\n", err)
			return 2
		}
		defer func() {
			sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			if err := tp.Shutdown(sctx); err != nil {
				log.Warn("tracing: flush on exit", "err", err)
			}
		}()
		o.cfg.TracerProvider, o.cfg.Propagator = tp, prop
		log.Info("tracing on", "because", why)
	} else {
		log.Debug("tracing off", "because", why)
	}
	p, err := processor.New(o.cfg, catering.Definition())
	if err != nil {
		fmt.Fprintf(stderr, "catering-match: %v\n", err)
		return 2
	}
	if o.httpAddr != "" {
		stopHTTP, err := serveOps(o.httpAddr, ops.New(ctx, catering.Queries{Processor: p}, reg, log), log)
		if err != nil {
			log.Error("cannot serve the operations endpoints", "addr", o.httpAddr, "err", err)
			return 1
		}
		defer stopHTTP()
	}
	log.Info("starting", "brokers", o.cfg.Brokers, "group", o.cfg.Group, "instance_id", o.cfg.InstanceID, "members", o.cfg.Members,
		"match_timeout", o.cfg.Limits.Timeout.String(), "retention", o.cfg.Limits.Retention.String(), "max_history", o.cfg.Limits.MaxHistory)
	start := time.Now()
	if err := p.Run(ctx); err != nil {
		log.Error("stopped on an error", "err", err)
		return 1
	}
	log.Info("stopped", "uptime", time.Since(start).Round(time.Second).String())
	return 0
}

// serveOps serves the operations endpoints until the returned stop is called.
func serveOps(addr string, h http.Handler, log *slog.Logger) (stop func(), err error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("%w (choose another --http-addr, or empty to disable)", err)
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("operations endpoints stopped", "err", err)
		}
	}()
	log.Info("operations endpoints", "url", "http://"+ln.Addr().String()+"/", "metrics", "/metrics", "health", "/healthz /readyz")
	return func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
	}, nil
}

var notID = regexp.MustCompile(`[^A-Za-z0-9._-]+`)

// defaultInstanceID is the host name, made a valid id.
func defaultInstanceID() string {
	h, err := os.Hostname()
	if err != nil || h == "" {
		return "catering-match-1"
	}
	return notID.ReplaceAllString(h, "-")
}
