package processor

import (
	"errors"
	"testing"

	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/catering-match/catering-match/state"
	"github.com/catering-match/catering-match/topics"
)

// TestEndOutcome is the decision behind the loop's reading of End, for
// the case kfake cannot produce: committed on the broker, then an error.
func TestEndOutcome(t *testing.T) {
	boom := errors.New("EndTxn: connection reset")
	for _, c := range []struct {
		name                     string
		want, committed, changed bool
		err                      error
		out                      outcome
	}{
		{"committed", true, true, false, nil, outcomeCommitted},
		{"error after asking to commit", true, false, false, boom, outcomeUnknown},
		{"error after a commit that happened", true, true, false, boom, outcomeUnknown},
		{"error while aborting", false, false, false, boom, outcomeUnknown},
		{"not committed, nothing explains it", true, false, false, nil, outcomeUnknown},
		{"not committed after a revoke", true, false, true, nil, outcomeAborted},
		{"abort asked for", false, false, false, nil, outcomeAborted},
		{"abort asked for, group changed", false, false, true, nil, outcomeAborted},
	} {
		t.Run(c.name, func(t *testing.T) {
			require.Equal(t, c.out, endOutcome(c.want, c.committed, c.err, c.changed))
		})
	}
}

// TestFenceAddsEveryHeldPartition: a transaction's offset commit carries
// every partition the instance holds, so the coordinator's generation
// check covers ticks too.
func TestFenceAddsEveryHeldPartition(t *testing.T) {
	p := &member[state.Order]{Processor: &Processor[state.Order]{cfg: Config{Topics: topics.Names{Events: "ev"}}}, eventsID: [16]byte{7}}
	store := state.NewStore(state.Catering().Projection)
	p.parts = map[int32]*partition[state.Order]{
		0: {id: 0, store: store},
		1: {id: 1, store: store},
		2: {id: 2, store: store},
		3: {id: 3}, // restoring: writes nothing
	}
	req := kmsg.NewPtrTxnOffsetCommitRequest()
	req.MemberID = "m1"
	polled := kmsg.NewTxnOffsetCommitRequestTopic()
	polled.Topic = "ev"
	pp := kmsg.NewTxnOffsetCommitRequestTopicPartition()
	pp.Partition, pp.Offset, pp.Metadata = 0, 42, &req.MemberID
	polled.Partitions = append(polled.Partitions, pp)
	req.Topics = append(req.Topics, polled)

	p.fence(req, map[int32]kgo.EpochOffset{0: {Epoch: 1, Offset: 40}, 1: {Epoch: 3, Offset: 17}})
	require.Len(t, req.Topics, 1)
	got := map[int32]int64{}
	for _, rp := range req.Topics[0].Partitions {
		got[rp.Partition] = rp.Offset
		require.Equal(t, "m1", *rp.Metadata)
	}
	require.Equal(t, map[int32]int64{0: 42, 1: 17, 2: 0}, got, "polled offset kept, others at their commit (0: never committed)")

	// Nothing polled: the topic entry is created, named by id as well.
	req = kmsg.NewPtrTxnOffsetCommitRequest()
	p.fence(req, nil)
	require.Len(t, req.Topics, 1)
	require.Equal(t, "ev", req.Topics[0].Topic)
	require.Equal(t, [16]byte{7}, req.Topics[0].TopicID)
	require.Len(t, req.Topics[0].Partitions, 3)

	// Nothing held: no entry at all.
	p.parts = map[int32]*partition[state.Order]{}
	req = kmsg.NewPtrTxnOffsetCommitRequest()
	p.fence(req, nil)
	require.Empty(t, req.Topics)
}
