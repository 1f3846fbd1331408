package processor_test

import (
	"context"
	"errors"
	"github.com/catering-match/catering-match/internal/catering"
	"github.com/catering-match/catering-match/processor"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kadm"

	"github.com/catering-match/catering-match/state"
	"github.com/catering-match/catering-match/topics"
)

func createTopic(t *testing.T, adm *kadm.Client, name string, partitions int32, configs map[string]*string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	resp, err := adm.CreateTopic(ctx, partitions, -1, configs, name)
	require.NoError(t, err)
	require.NoError(t, resp.Err)
}

// runUntilError runs a processor that is expected to refuse to start, and
// returns Run's error.
func runUntilError(t *testing.T, cfg processor.Config) error {
	t.Helper()
	p, err := processor.New(cfg, catering.Definition())
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	select {
	case err := <-done:
		require.NoError(t, ctx.Err(), "Run returned only because the test gave up")
		return err
	case <-time.After(60 * time.Second):
		t.Fatal("Run did not refuse to start within 60s")
		return nil
	}
}

// TestCoPartitionMismatchRefusesToStart checks that the service refuses an
// existing changelog that is not co-partitioned with the events topic, or
// not compacted, and says which topics and numbers are wrong.
func TestCoPartitionMismatchRefusesToStart(t *testing.T) {
	b := startBroker(t, "")
	adm := kadm.NewClient(client(t, b.Addr()))
	compact := map[string]*string{"cleanup.policy": kadm.StringPtr("compact")}

	t.Run("partition counts differ", func(t *testing.T) {
		names := testNames(t)
		createTopic(t, adm, names.Events, 3, nil)
		createTopic(t, adm, names.Changelog, 2, compact)
		cfg := testConfig(t, b.Addr(), names)
		err := runUntilError(t, cfg)
		require.Error(t, err)
		require.True(t, errors.Is(err, topics.ErrMismatch), "error %v does not wrap topics.ErrMismatch", err)
		msg := err.Error()
		require.Contains(t, msg, `"`+names.Events+`"`)
		require.Contains(t, msg, `"`+names.Changelog+`"`)
		require.Regexp(t, `\b3 partitions\b|\bhas 3\b`, msg)
		require.Regexp(t, `\b2 partitions\b|\bhas 2\b`, msg)
	})

	t.Run("spec differs but the topics agree", func(t *testing.T) {
		// The events topic's real count wins over the configured one: a
		// missing changelog is created with it, and nothing is refused.
		names := testNames(t)
		createTopic(t, adm, names.Events, 2, nil)
		cfg := testConfig(t, b.Addr(), names)
		cfg.Spec.Partitions = 5
		r := start(t, cfg)
		waitForTopics(t, b.Addr(), names)
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		var details kadm.TopicDetails
		eventually(t, 60*time.Second, "the changelog created", func() bool {
			var err error
			details, err = adm.ListTopics(ctx, names.Changelog)
			return err == nil && details[names.Changelog].Err == nil && len(details[names.Changelog].Partitions) > 0
		})
		require.Len(t, details[names.Changelog].Partitions, 2)
		rcs, err := adm.DescribeTopicConfigs(ctx, names.Changelog)
		require.NoError(t, err)
		rc, err := rcs.On(names.Changelog, nil)
		require.NoError(t, err)
		policy := ""
		for _, c := range rc.Configs {
			if c.Key == "cleanup.policy" && c.Value != nil {
				policy = *c.Value
			}
		}
		require.Equal(t, "compact", policy)

		ev1 := event("c1", state.CustomerConfirmedMenu, "o", "")
		ev2 := event("c2", state.CatererConfirmedMenu, "o", "")
		ev1.Topic, ev2.Topic = names.Events, names.Events
		produce(t, b.Addr(), ev1, ev2)
		eventually(t, 60*time.Second, "the match", func() bool { return r.p.Stats().CommandsIssued.Load() == 1 })
		require.Len(t, readAll(t, b.Addr(), names.Commands), 1)
	})

	t.Run("changelog not compacted", func(t *testing.T) {
		names := testNames(t)
		createTopic(t, adm, names.Events, 3, nil)
		createTopic(t, adm, names.Changelog, 3, map[string]*string{"cleanup.policy": kadm.StringPtr("delete")})
		err := runUntilError(t, testConfig(t, b.Addr(), names))
		require.Error(t, err)
		require.True(t, errors.Is(err, topics.ErrMismatch), "error %v does not wrap topics.ErrMismatch", err)
		require.Contains(t, err.Error(), names.Changelog)
		require.Contains(t, err.Error(), "cleanup.policy=delete")
	})
}
