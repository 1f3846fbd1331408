package topics

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/catering-match/catering-match/internal/embedded"
)

// startBroker starts an in-process kfake broker and returns a client on it
// and an admin client.
func startBroker(t *testing.T) (*kgo.Client, *kadm.Client) {
	t.Helper()
	b, err := embedded.StartAnyPort(embedded.Options{})
	if err != nil {
		t.Fatalf("start embedded broker: %v", err)
	}
	t.Cleanup(b.Close)
	cl, err := kgo.NewClient(kgo.SeedBrokers(b.Addr()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return cl, kadm.NewClient(cl)
}

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func testNames(prefix string) Names {
	return Names{
		Events:    prefix + "-events",
		Commands:  prefix + "-commands",
		Changelog: prefix + "-changelog",
		DLQ:       prefix + "-dlq",
	}
}

func createTopic(t *testing.T, ctx context.Context, adm *kadm.Client, topic string, partitions int32, configs map[string]*string) {
	t.Helper()
	resp, err := adm.CreateTopic(ctx, partitions, -1, configs, topic)
	if err == nil {
		err = resp.Err
	}
	if err != nil {
		t.Fatalf("create %s: %v", topic, err)
	}
}

func partitionsOf(t *testing.T, ctx context.Context, adm *kadm.Client, topic string) int {
	t.Helper()
	tds, err := adm.ListTopics(ctx, topic)
	if err != nil {
		t.Fatalf("list %s: %v", topic, err)
	}
	td, ok := tds[topic]
	if !ok || td.Err != nil {
		t.Fatalf("topic %s: present %v, err %v", topic, ok, td.Err)
	}
	return len(td.Partitions)
}

func topicConfig(t *testing.T, ctx context.Context, adm *kadm.Client, topic, key string) (string, bool) {
	t.Helper()
	rcs, err := adm.DescribeTopicConfigs(ctx, topic)
	if err != nil {
		t.Fatalf("describe configs %s: %v", topic, err)
	}
	rc, err := rcs.On(topic, nil)
	if err == nil {
		err = rc.Err
	}
	if err != nil {
		t.Fatalf("describe configs %s: %v", topic, err)
	}
	for _, c := range rc.Configs {
		if c.Key == key && c.Value != nil {
			return *c.Value, true
		}
	}
	return "", false
}

func TestEnsureCreatesTopics(t *testing.T) {
	cl, adm := startBroker(t)
	ctx := testCtx(t)
	names := testNames("create")
	layout, err := Ensure(ctx, cl, names, Spec{Partitions: 3, ChangelogConfigs: map[string]string{"retention.ms": "-1"}})
	if err != nil {
		t.Fatalf("Ensure: %v", err)
	}
	if layout.Partitions != 3 {
		t.Fatalf("layout = %+v, want 3 partitions", layout)
	}
	for _, topic := range []string{names.Events, names.Commands, names.Changelog, names.DLQ} {
		if n := partitionsOf(t, ctx, adm, topic); n != 3 {
			t.Errorf("%s has %d partitions, want 3", topic, n)
		}
	}
	if p, _ := topicConfig(t, ctx, adm, names.Changelog, "cleanup.policy"); p != "compact" {
		t.Errorf("changelog cleanup.policy = %q, want compact", p)
	}
	if v, _ := topicConfig(t, ctx, adm, names.Changelog, "retention.ms"); v != "-1" {
		t.Errorf("changelog retention.ms = %q, want the extra config -1", v)
	}
	for _, topic := range []string{names.Events, names.Commands, names.DLQ} {
		if p, _ := topicConfig(t, ctx, adm, topic, "cleanup.policy"); strings.Contains(p, "compact") {
			t.Errorf("%s cleanup.policy = %q; only the changelog is compacted", topic, p)
		}
	}

	// Idempotent: a second call (even with another requested count) finds
	// the topics and changes nothing.
	for _, p := range []int32{3, 6} {
		layout, err = Ensure(ctx, cl, names, Spec{Partitions: p})
		if err != nil {
			t.Fatalf("second Ensure (partitions %d): %v", p, err)
		}
		if layout.Partitions != 3 {
			t.Fatalf("second Ensure layout = %+v, want the existing 3", layout)
		}
	}
	for _, topic := range []string{names.Events, names.Commands, names.Changelog, names.DLQ} {
		if n := partitionsOf(t, ctx, adm, topic); n != 3 {
			t.Errorf("after second Ensure %s has %d partitions, want 3", topic, n)
		}
	}
}

func TestEnsureDefaultNames(t *testing.T) {
	cl, adm := startBroker(t)
	ctx := testCtx(t)
	names := DefaultNames()
	want := Names{Events: "catering-events", Commands: "catering-commands", Changelog: "catering-match-changelog", DLQ: "catering-events-dlq"}
	if names != want {
		t.Fatalf("DefaultNames() = %+v, want the contract's %+v", names, want)
	}
	if _, err := Ensure(ctx, cl, names, Spec{Partitions: 1}); err != nil {
		t.Fatal(err)
	}
	if n := partitionsOf(t, ctx, adm, "catering-match-changelog"); n != 1 {
		t.Fatalf("changelog partitions %d", n)
	}
}

func TestEnsureChangelogFollowsExistingEvents(t *testing.T) {
	cl, adm := startBroker(t)
	ctx := testCtx(t)
	names := testNames("follow")
	createTopic(t, ctx, adm, names.Events, 4, nil)
	layout, err := Ensure(ctx, cl, names, Spec{Partitions: 2})
	if err != nil {
		t.Fatalf("Ensure: %v", err)
	}
	if layout.Partitions != 4 {
		t.Fatalf("layout = %+v, want the events topic's 4", layout)
	}
	if n := partitionsOf(t, ctx, adm, names.Changelog); n != 4 {
		t.Errorf("changelog created with %d partitions, want the events topic's 4", n)
	}
}

func TestEnsurePartitionMismatch(t *testing.T) {
	cl, adm := startBroker(t)
	ctx := testCtx(t)
	names := testNames("mismatch")
	createTopic(t, ctx, adm, names.Events, 3, nil)
	createTopic(t, ctx, adm, names.Changelog, 5, map[string]*string{"cleanup.policy": kadm.StringPtr("compact")})
	_, err := Ensure(ctx, cl, names, Spec{Partitions: 3})
	if !errors.Is(err, ErrMismatch) {
		t.Fatalf("Ensure = %v, want ErrMismatch", err)
	}
	msg := err.Error()
	for _, want := range []string{
		fmt.Sprintf("%q has 5 partitions", names.Changelog),
		fmt.Sprintf("%q has 3", names.Events),
	} {
		if !strings.Contains(msg, want) {
			t.Errorf("error %q does not contain %q", msg, want)
		}
	}
	// The existing changelog was not changed.
	if n := partitionsOf(t, ctx, adm, names.Changelog); n != 5 {
		t.Errorf("changelog now has %d partitions; Ensure must not change it", n)
	}
}

func TestEnsureCleanupPolicy(t *testing.T) {
	cases := []struct {
		name     string
		policy   *string // nil: not set on the topic
		mismatch bool
		found    string // the value the error must name
	}{
		{"delete", kadm.StringPtr("delete"), true, "cleanup.policy=delete"},
		{"unset", nil, true, "cleanup.policy=delete"}, // Kafka's default is delete
		{"compact", kadm.StringPtr("compact"), false, ""},
		// With delete beside compact, time retention deletes the records
		// of pending processes: refused like delete alone.
		{"compact,delete", kadm.StringPtr("compact,delete"), true, "cleanup.policy=compact,delete"},
		{"delete,compact", kadm.StringPtr("delete,compact"), true, "cleanup.policy=delete,compact"},
	}
	cl, adm := startBroker(t)
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ctx := testCtx(t)
			names := testNames(fmt.Sprintf("policy%d", i))
			var cfg map[string]*string
			if c.policy != nil {
				cfg = map[string]*string{"cleanup.policy": c.policy}
			}
			createTopic(t, ctx, adm, names.Changelog, 2, cfg)
			before, _ := topicConfig(t, ctx, adm, names.Changelog, "cleanup.policy")
			layout, err := Ensure(ctx, cl, names, Spec{Partitions: 2})
			if !c.mismatch {
				if err != nil || layout.Partitions != 2 {
					t.Fatalf("Ensure = %+v, %v; want accepted", layout, err)
				}
				return
			}
			if !errors.Is(err, ErrMismatch) {
				t.Fatalf("Ensure = %v, want ErrMismatch", err)
			}
			for _, want := range []string{
				fmt.Sprintf("%q", names.Changelog), // the topic
				c.found + ";",                      // the value found
				"must be exactly compact",
				// the fix, runnable as printed
				"kafka-configs.sh --alter --entity-type topics --entity-name " + names.Changelog + " --add-config cleanup.policy=compact",
			} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not contain %q", err, want)
				}
			}
			if after, _ := topicConfig(t, ctx, adm, names.Changelog, "cleanup.policy"); after != before {
				t.Errorf("Ensure changed the changelog's policy from %q to %q; it must never change an existing topic", before, after)
			}
		})
	}
}

func TestOnlyCompact(t *testing.T) {
	for policy, want := range map[string]bool{
		"compact":         true,
		" compact ":       true,
		"compact,compact": true,
		"":                false,
		"delete":          false,
		"compact,delete":  false,
		"delete,compact":  false,
		"compact, delete": false,
		"compact,":        false,
		"Compact":         false,
	} {
		if got := onlyCompact(policy); got != want {
			t.Errorf("onlyCompact(%q) = %v, want %v", policy, got, want)
		}
	}
}

func TestEnsureRejectsBadInput(t *testing.T) {
	// Validation happens before any request: a nil-broker client is enough.
	cl, err := kgo.NewClient(kgo.SeedBrokers("127.0.0.1:1"))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx := testCtx(t)
	names := testNames("bad")
	names.DLQ = ""
	if _, err := Ensure(ctx, cl, names, Spec{Partitions: 1}); err == nil || !strings.Contains(err.Error(), "--dlq-topic") {
		t.Errorf("Ensure with empty DLQ name = %v, want an error naming --dlq-topic", err)
	}
	for _, p := range []int32{0, -1} {
		_, err := Ensure(ctx, cl, testNames("bad"), Spec{Partitions: p})
		if err == nil || errors.Is(err, ErrMismatch) || !strings.Contains(err.Error(), fmt.Sprint(p)) {
			t.Errorf("Ensure with %d partitions = %v, want a plain error naming %d", p, err, p)
		}
	}
}

func TestNamesValidate(t *testing.T) {
	if err := DefaultNames().Validate(); err != nil {
		t.Fatalf("DefaultNames().Validate() = %v", err)
	}
	flags := []string{"events-topic", "commands-topic", "changelog-topic", "dlq-topic"}
	set := func(n *Names, i int, v string) {
		*[]*string{&n.Events, &n.Commands, &n.Changelog, &n.DLQ}[i] = v
	}
	for i, flag := range flags {
		n := DefaultNames()
		set(&n, i, "")
		err := n.Validate()
		if err == nil || !strings.Contains(err.Error(), "--"+flag) || !strings.Contains(err.Error(), "empty") {
			t.Errorf("empty %s: Validate() = %v, want an error naming --%s as empty", flag, err, flag)
		}
	}
	for i := range flags {
		for j := i + 1; j < len(flags); j++ {
			n := DefaultNames()
			set(&n, j, "shared")
			set(&n, i, "shared")
			err := n.Validate()
			if err == nil {
				t.Errorf("%s = %s = shared: Validate() = nil", flags[i], flags[j])
				continue
			}
			for _, want := range []string{"--" + flags[i], "--" + flags[j], `"shared"`} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("duplicate %s/%s: %q does not contain %q", flags[i], flags[j], err, want)
				}
			}
		}
	}
}

func TestPartitionForDeterministicAndInRange(t *testing.T) {
	for _, n := range []int32{1, 2, 3, 6, 7, 12, 100, 1 << 20} {
		for i := range 500 {
			key := fmt.Sprintf("order-%d", i)
			p := PartitionFor(key, n)
			if p < 0 || p >= n {
				t.Fatalf("PartitionFor(%q, %d) = %d, out of range", key, n, p)
			}
			if again := PartitionFor(key, n); again != p {
				t.Fatalf("PartitionFor(%q, %d) = %d then %d", key, n, p, again)
			}
		}
	}
	// Keys spread over the partitions (a constant function would pass the
	// checks above).
	seen := map[int32]bool{}
	for i := range 200 {
		seen[PartitionFor(fmt.Sprint(i), 6)] = true
	}
	if len(seen) != 6 {
		t.Errorf("200 keys landed on only %d of 6 partitions", len(seen))
	}
}

// TestPartitionForKafkaVectors uses the murmur2 golden values from Kafka's
// UtilsTest.testMurmur2 (as copied in franz-go v1.22.3
// pkg/kgo/partitioner_test.go TestMurmur2KafkaVectors); Kafka's default
// partitioner places a keyed record at toPositive(murmur2(key)) % n.
func TestPartitionForKafkaVectors(t *testing.T) {
	for _, c := range []struct {
		key  string
		hash int32
	}{
		{"21", -973932308},
		{"foobar", -790332482},
		{"a-little-bit-long-string", -985981536},
		{"a-little-bit-longer-string", -1486304829},
		{"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8", -58897971},
		{"abc", 479470107},
	} {
		for _, n := range []int32{1, 3, 6, 10, 12, 64, 1000} {
			want := int32(uint32(c.hash)&0x7fffffff) % n
			if got := PartitionFor(c.key, n); got != want {
				t.Errorf("PartitionFor(%q, %d) = %d, want %d (murmur2 %d)", c.key, n, got, want, c.hash)
			}
		}
	}
}

// TestPartitionForMatchesProducer produces keyed records with franz-go's
// default partitioner and checks that PartitionFor predicts where each went.
func TestPartitionForMatchesProducer(t *testing.T) {
	b, err := embedded.StartAnyPort(embedded.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	const topic, n = "partition-check", 6
	cl, err := kgo.NewClient(kgo.SeedBrokers(b.Addr()), kgo.DefaultProduceTopic(topic))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx := testCtx(t)
	createTopic(t, ctx, kadm.NewClient(cl), topic, n, nil)

	var recs []*kgo.Record
	for i := range 50 {
		key := fmt.Sprintf("order-%d", i*7919)
		if i%5 == 0 {
			key = fmt.Sprintf("café-🍰-%d", i)
		}
		recs = append(recs, &kgo.Record{Key: []byte(key), Value: []byte("v")})
	}
	if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatalf("produce: %v", err)
	}
	used := map[int32]bool{}
	for _, r := range recs {
		used[r.Partition] = true
		if want := PartitionFor(string(r.Key), n); r.Partition != want {
			t.Errorf("key %q: producer wrote partition %d, PartitionFor says %d", r.Key, r.Partition, want)
		}
	}
	if len(used) < 4 {
		t.Errorf("50 keys used only %d of %d partitions", len(used), n)
	}
}

// PartitionFor shares one partitioner: concurrent callers (HTTP queries)
// must get the same answers as a lone caller, race-free.
func TestPartitionForConcurrent(t *testing.T) {
	want := map[string]int32{}
	for i := range 200 {
		k := fmt.Sprintf("order-%d", i)
		want[k] = PartitionFor(k, 6)
	}
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for k, p := range want {
				if got := PartitionFor(k, 6); got != p {
					t.Errorf("PartitionFor(%q) = %d concurrently, %d alone", k, got, p)
				}
			}
		}()
	}
	wg.Wait()
	first := PartitionFor("", 6)
	for range 50 {
		if PartitionFor("", 6) != first {
			t.Fatal("the empty key must hash, not take the sticky (random) path")
		}
	}
}
