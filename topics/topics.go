// Package topics owns what the service exchanges with Kafka: the topic names
// and their specs (partitions, the changelog's compaction), the check that
// creates missing topics and refuses mismatched ones, and the wire formats
// (event, ConfirmOrder command, process record) with their validation.
package topics

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Names are the topics the service uses.
type Names struct {
	Events    string // input, key = order id
	Commands  string // ConfirmOrder output, written only in transactions
	Changelog string // compacted process records, co-partitioned with Events
	DLQ       string // dead letters
}

// DefaultNames returns the contract's default topic names.
func DefaultNames() Names {
	return Names{
		Events:    "catering-events",
		Commands:  "catering-commands",
		Changelog: "catering-match-changelog",
		DLQ:       "catering-events-dlq",
	}
}

// Validate reports an empty or repeated topic name.
func (n Names) Validate() error {
	all := []struct{ flag, name string }{
		{"events-topic", n.Events}, {"commands-topic", n.Commands},
		{"changelog-topic", n.Changelog}, {"dlq-topic", n.DLQ},
	}
	seen := map[string]string{}
	for _, t := range all {
		if t.name == "" {
			return fmt.Errorf("topic name --%s is empty", t.flag)
		}
		if other, dup := seen[t.name]; dup {
			return fmt.Errorf("--%s and --%s are both %q: each topic needs its own name", other, t.flag, t.name)
		}
		seen[t.name] = t.flag
	}
	return nil
}

// Spec says how to create missing topics.
type Spec struct {
	// Partitions for a missing events topic (and so for its changelog),
	// and for missing commands and DLQ topics.
	Partitions int32
	// ReplicationFactor for created topics; -1 for the broker's default.
	ReplicationFactor int16
	// ChangelogConfigs are extra configs for a created changelog
	// (cleanup.policy=compact is always set).
	ChangelogConfigs map[string]string
}

// ErrMismatch is returned (wrapped) by Ensure when an existing topic does not
// fit: the changelog is not co-partitioned with the events topic or is not
// compacted. The service must not start on such topics.
var ErrMismatch = errors.New("topic mismatch")

// Layout is what Ensure found or made: the partition count shared by the
// events topic and the changelog.
type Layout struct {
	Partitions int32
}

// Ensure creates the missing topics and checks the existing ones: the
// changelog must have the events topic's partition count and
// cleanup.policy=compact, and nothing else. It never changes an existing topic.
func Ensure(ctx context.Context, cl *kgo.Client, names Names, spec Spec) (Layout, error) {
	adm := admin{cl: cl, Client: kadm.NewClient(cl)}
	if err := names.Validate(); err != nil {
		return Layout{}, err
	}
	if spec.Partitions < 1 {
		return Layout{}, fmt.Errorf("partitions %d must be at least 1", spec.Partitions)
	}
	if spec.ReplicationFactor == 0 {
		spec.ReplicationFactor = -1
	}
	events, err := ensureTopic(ctx, adm, names.Events, spec.Partitions, spec.ReplicationFactor, nil)
	if err != nil {
		return Layout{}, err
	}
	changelogConfigs := map[string]*string{"cleanup.policy": kadm.StringPtr("compact")}
	for k, v := range spec.ChangelogConfigs {
		changelogConfigs[k] = kadm.StringPtr(v)
	}
	changelog, err := ensureTopic(ctx, adm, names.Changelog, events, spec.ReplicationFactor, changelogConfigs)
	if err != nil {
		return Layout{}, err
	}
	if changelog != events {
		return Layout{}, fmt.Errorf("%w: changelog topic %q has %d partitions but events topic %q has %d; they must be co-partitioned: recreate %q with %d partitions",
			ErrMismatch, names.Changelog, changelog, names.Events, events, names.Changelog, events)
	}
	if err := checkCompacted(ctx, adm, names.Changelog); err != nil {
		return Layout{}, err
	}
	for _, t := range []string{names.Commands, names.DLQ} {
		if _, err := ensureTopic(ctx, adm, t, spec.Partitions, spec.ReplicationFactor, nil); err != nil {
			return Layout{}, err
		}
	}
	return Layout{Partitions: events}, nil
}

// admin is a kadm client that can also send raw requests.
type admin struct {
	cl *kgo.Client
	*kadm.Client
}

// ensureTopic returns the partition count of topic, creating it first when
// it does not exist.
func ensureTopic(ctx context.Context, adm admin, topic string, partitions int32, rf int16, configs map[string]*string) (int32, error) {
	n, err := PartitionCount(ctx, adm.cl, topic)
	if err != nil || n > 0 {
		return n, err
	}
	resp, err := adm.CreateTopic(ctx, partitions, rf, configs, topic)
	if err == nil {
		err = resp.Err
	}
	if err != nil && !errors.Is(err, kerr.TopicAlreadyExists) {
		return 0, fmt.Errorf("create topic %q with %d partitions: %w", topic, partitions, err)
	}
	// Created by us or, concurrently, by another instance: read it back
	// once the metadata shows it.
	for range 100 {
		if n, err = PartitionCount(ctx, adm.cl, topic); err != nil || n > 0 {
			return n, err
		}
		select {
		case <-ctx.Done():
			return 0, ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
	return 0, fmt.Errorf("topic %q was created but its metadata did not show it within 10s", topic)
}

// PartitionCount returns the number of partitions of topic, 0 if it does not
// exist. It asks the broker directly: franz-go's metadata cache would keep
// answering "unknown topic" for seconds after the topic was created.
func PartitionCount(ctx context.Context, cl *kgo.Client, topic string) (int32, error) {
	req := kmsg.NewPtrMetadataRequest()
	rt := kmsg.NewMetadataRequestTopic()
	rt.Topic = kmsg.StringPtr(topic)
	req.Topics = append(req.Topics, rt)
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		return 0, fmt.Errorf("describe topic %q: %w", topic, err)
	}
	for _, t := range resp.Topics {
		if t.Topic == nil || *t.Topic != topic {
			continue
		}
		switch err := kerr.ErrorForCode(t.ErrorCode); {
		case err == nil:
			return int32(len(t.Partitions)), nil
		case errors.Is(err, kerr.UnknownTopicOrPartition), errors.Is(err, kerr.LeaderNotAvailable):
			return 0, nil
		default:
			return 0, fmt.Errorf("describe topic %q: %w", topic, err)
		}
	}
	return 0, nil
}

func checkCompacted(ctx context.Context, adm admin, topic string) error {
	rcs, err := adm.DescribeTopicConfigs(ctx, topic)
	if err != nil {
		return fmt.Errorf("describe configs of %q: %w", topic, err)
	}
	rc, err := rcs.On(topic, nil)
	if err == nil {
		err = rc.Err
	}
	if err != nil {
		return fmt.Errorf("describe configs of %q: %w", topic, err)
	}
	policy := "delete" // Kafka's default when the topic does not set it
	for _, c := range rc.Configs {
		if c.Key == "cleanup.policy" && c.Value != nil {
			policy = *c.Value
		}
	}
	// Exactly compact: with delete beside it (compact,delete or
	// delete,compact), time retention removes the records of processes
	// that are still pending, and a restore would forget them.
	if !onlyCompact(policy) {
		return fmt.Errorf("%w: changelog topic %q has cleanup.policy=%s; it must be exactly compact (with delete, time retention deletes pending processes): kafka-configs.sh --alter --entity-type topics --entity-name %s --add-config cleanup.policy=compact (kadm: AlterTopicConfigs with SetConfig cleanup.policy=compact)",
			ErrMismatch, topic, policy, topic)
	}
	return nil
}

// onlyCompact reports whether a cleanup.policy list names compact and
// nothing else (spaces around the items are ignored).
func onlyCompact(policy string) bool {
	items := strings.Split(policy, ",")
	for _, it := range items {
		if strings.TrimSpace(it) != "compact" {
			return false
		}
	}
	return len(items) > 0
}

// PartitionFor returns the partition a keyed record lands on in a topic of
// n partitions with Kafka's default partitioner (murmur2, as the Java client
// and franz-go's default do): where an order's events, and so its changelog
// record, live. Safe for concurrent use: for a keyed record franz-go's
// partitioner only hashes the key.
func PartitionFor(key string, n int32) int32 {
	k := []byte(key)
	if k == nil {
		k = []byte{} // an empty key is still a key, never the sticky path
	}
	return int32(keyPartitioner.Partition(&kgo.Record{Key: k}, int(n)))
}

// keyPartitioner is built once: building one per call seeded a random
// source each time (about 10 µs), which dominated restore-sized loops.
var keyPartitioner = kgo.StickyKeyPartitioner(nil).ForTopic("")
