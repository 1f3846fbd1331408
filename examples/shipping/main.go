// Command shipping is a second process manager on the catering-match
// engine, to show what writing one takes: it waits for OrderPlaced and
// PaymentReceived of the same order (in either order, duplicates skipped),
// then issues one ShipOrder; if both have not arrived by the deadline, it
// issues one CancelOrder, a timer that emits a command. Everything it
// needs from the engine is processor.Definition (see shipping.go); it
// changes nothing in the engine.
//
//	go run ./examples/shipping                      # embedded broker on 127.0.0.1:9192
//	go run ./examples/shipping --brokers host:9092  # a real cluster
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/peterbourgon/ff/v3"

	"github.com/catering-match/catering-match/internal/cli"
	"github.com/catering-match/catering-match/internal/embedded"
	"github.com/catering-match/catering-match/processor"
	"github.com/catering-match/catering-match/state"
	"github.com/catering-match/catering-match/topics"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stderr))
}

// defaultConfig is the engine's configuration for this process manager.
func defaultConfig() processor.Config {
	cfg := processor.DefaultConfig()
	cfg.Group = "shipping"
	cfg.InstanceID = "shipping-1"
	cfg.Topics = topics.Names{Events: "shop-events", Commands: "shop-commands", Changelog: "shipping-changelog", DLQ: "shop-events-dlq"}
	cfg.Limits = state.Limits{Timeout: 30 * time.Minute, Retention: 24 * time.Hour, MaxHistory: 100}
	cfg.Namespace = "shipping"
	return cfg
}

func run(ctx context.Context, args []string, stderr io.Writer) int {
	cfg := defaultConfig()
	fs := flag.NewFlagSet("shipping", flag.ContinueOnError)
	fs.SetOutput(stderr)
	brokers := fs.String("brokers", "", "Kafka seed brokers host:port[,host:port]; empty starts an embedded broker")
	port := fs.Int("embedded-port", 9192, "port of the embedded broker on 127.0.0.1 (when --brokers is empty)")
	dataDir := fs.String("data-dir", "./data-shipping", "directory the embedded broker persists to")
	fs.StringVar(&cfg.Group, "group", cfg.Group, "consumer group id")
	fs.StringVar(&cfg.InstanceID, "instance-id", cfg.InstanceID, "this instance's id, unique per running instance")
	fs.StringVar(&cfg.Topics.Events, "events-topic", cfg.Topics.Events, "input events topic (key = order id)")
	fs.StringVar(&cfg.Topics.Commands, "commands-topic", cfg.Topics.Commands, "output ShipOrder and CancelOrder commands")
	fs.StringVar(&cfg.Topics.Changelog, "changelog-topic", cfg.Topics.Changelog, "compacted process changelog")
	fs.StringVar(&cfg.Topics.DLQ, "dlq-topic", cfg.Topics.DLQ, "dead letters")
	fs.DurationVar(&cfg.Limits.Timeout, "payment-timeout", cfg.Limits.Timeout, "an order not placed and paid this long after its first event is cancelled")
	level := fs.String("log-level", "info", "debug, info, warn or error")
	if err := ff.Parse(fs, args, ff.WithEnvVarPrefix("SHIPPING")); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		fmt.Fprintf(stderr, "shipping: %v\n", err)
		return 2
	}
	log, err := cli.NewLogger(stderr, *level, "text")
	if err != nil {
		fmt.Fprintf(stderr, "shipping: %v\n", err)
		return 2
	}
	cfg.Logger = log
	if *brokers == "" {
		b, err := embedded.Start(embedded.Options{Port: *port, DataDir: *dataDir, Logger: log})
		if err != nil {
			log.Error("cannot start the embedded broker", "err", err)
			return 1
		}
		defer b.Close()
		*brokers = b.Addr()
		log.Info("embedded Kafka broker (kfake) started", "addr", b.Addr(), "data_dir", *dataDir)
	}
	cfg.Brokers = strings.Split(*brokers, ",")
	p, err := processor.New(cfg, definition())
	if err != nil {
		fmt.Fprintf(stderr, "shipping: %v\n", err)
		return 2
	}
	if err := p.Run(ctx); err != nil {
		log.Error("stopped on an error", "err", err)
		return 1
	}
	return 0
}
