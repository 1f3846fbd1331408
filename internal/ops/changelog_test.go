package ops

import (
	"context"
	"encoding/json"
	"fmt"
	"github.com/catering-match/catering-match/internal/catering"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/catering-match/catering-match/state"
	"github.com/catering-match/catering-match/topics"
)

// TestOrderFromChangelog runs two instances of one group over three
// partitions and asks each, over HTTP, about the orders of the other's
// partitions: the answer comes from the changelog and equals what the owner
// holds in memory.
func TestOrderFromChangelog(t *testing.T) {
	b := startBroker(t)
	names := testNames()
	cfgA := testConfig(t, b.Addr(), names)
	cfgB := cfgA
	cfgA.InstanceID, cfgB.InstanceID = "a", "b"
	cfgA.Logger, cfgB.Logger = cfgA.Logger.With("instance", "a"), cfgA.Logger.With("instance", "b")
	pA := start(t, cfgA)
	eventually(t, time.Minute, "instance a to be ready", pA.Ready)
	pB := start(t, cfgB)

	// Which instance owns which partition, from the group coordinator.
	owner := map[int32]string{}
	cl, err := kgo.NewClient(kgo.SeedBrokers(b.Addr()))
	require.NoError(t, err)
	defer cl.Close()
	adm := kadm.NewClient(cl)
	eventually(t, time.Minute, "a stable group of two instances, each owning a partition", func() bool {
		if !pA.Ready() || !pB.Ready() {
			return false
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		gs, err := adm.DescribeGroups(ctx, cfgA.Group)
		g := gs[cfgA.Group]
		if err != nil || g.Err != nil || g.State != "Stable" || len(g.Members) != 2 {
			return false
		}
		clear(owner)
		for _, m := range g.Members {
			as, ok := m.Assigned.AsConsumer()
			if !ok || m.InstanceID == nil || len(as.Topics) == 0 {
				return false
			}
			for _, tp := range as.Topics {
				for _, p := range tp.Partitions {
					owner[p] = *m.InstanceID
				}
			}
		}
		return len(owner) == 3
	})
	t.Logf("partition owners: %v", owner)

	// Two orders on each partition: a pending one and a confirmed one.
	var orders []string
	perPartition := map[int32]int{}
	for i := 0; len(orders) < 6; i++ {
		id := "order-" + strconv.Itoa(i)
		if p := topics.PartitionFor(id, 3); perPartition[p] < 2 {
			perPartition[p]++
			orders = append(orders, id)
		}
	}
	want := map[string]string{} // order -> status
	var recs []*kgo.Record
	for i, id := range orders {
		recs = append(recs, event(names.Events, id+"-c", state.CustomerConfirmedMenu, id, "menu-a"))
		want[id] = "pending"
		if i%2 == 1 {
			recs = append(recs, event(names.Events, id+"-k", state.CatererConfirmedMenu, id, "menu-a"))
			want[id] = "confirmed"
		}
	}
	produce(t, b.Addr(), recs...)

	srvA := httptest.NewServer(Handler(pA, prometheus.NewRegistry(), cfgA.Logger))
	t.Cleanup(srvA.Close)
	srvB := httptest.NewServer(Handler(pB, prometheus.NewRegistry(), cfgB.Logger))
	t.Cleanup(srvB.Close)
	servers := map[string]*httptest.Server{"a": srvA, "b": srvB}

	// Owners answer from memory once they have processed the events.
	eventually(t, time.Minute, "every order processed by its owner", func() bool {
		for _, id := range orders {
			v, status := getOrder(t, servers[owner[topics.PartitionFor(id, 3)]], id)
			if status != http.StatusOK || v.Status != want[id] {
				return false
			}
		}
		return true
	})

	for _, id := range orders {
		part := topics.PartitionFor(id, 3)
		own, other := owner[part], "a"
		if own == "a" {
			other = "b"
		}
		t.Run(fmt.Sprintf("%s on partition %d owned by %s asked of %s", id, part, own, other), func(t *testing.T) {
			mem, status := getOrder(t, servers[own], id)
			require.Equal(t, http.StatusOK, status)
			require.Equal(t, "memory", mem.Source)

			fromLog, status := getOrder(t, servers[other], id)
			require.Equal(t, http.StatusOK, status)
			require.Equal(t, "changelog", fromLog.Source)

			require.Equal(t, want[id], fromLog.Status)
			require.Equal(t, part, fromLog.Partition)
			require.NotEmpty(t, fromLog.History)
			require.Equal(t, normalized(mem), normalized(fromLog), "the changelog view equals the owner's")
		})
	}

	// An order nobody has seen is a 404 on either instance, whoever owns it.
	for name, srv := range servers {
		_, status := getOrder(t, srv, "never-seen")
		require.Equal(t, http.StatusNotFound, status, name)
	}

	// The list merges memory and changelog: every order, oldest first.
	res, err := http.Get(srvB.URL + "/orders")
	require.NoError(t, err)
	defer res.Body.Close()
	require.Equal(t, http.StatusOK, res.StatusCode)
	var list struct {
		Orders []catering.ProcessView `json:"orders"`
		Count  int                    `json:"count"`
	}
	require.NoError(t, json.NewDecoder(res.Body).Decode(&list))
	require.Equal(t, len(orders), list.Count)
	require.True(t, slices.IsSortedFunc(list.Orders, func(x, y catering.ProcessView) int { return x.StartedAt.Compare(y.StartedAt) }))
	for _, v := range list.Orders {
		wantSource := "changelog"
		if owner[v.Partition] == "b" {
			wantSource = "memory"
		}
		require.Equal(t, wantSource, v.Source, v.OrderID)
		require.Equal(t, want[v.OrderID], v.Status, v.OrderID)
	}
}

func getOrder(t *testing.T, srv *httptest.Server, id string) (catering.ProcessView, int) {
	t.Helper()
	var v catering.ProcessView
	res, err := http.Get(srv.URL + "/orders/" + id)
	require.NoError(t, err)
	defer res.Body.Close()
	if res.StatusCode == http.StatusOK {
		require.NoError(t, json.NewDecoder(res.Body).Decode(&v))
	}
	return v, res.StatusCode
}

// normalized is v without its source, with every time in UTC: the
// changelog stores times in UTC, memory keeps the clock's zone.
func normalized(v catering.ProcessView) catering.ProcessView {
	utc := func(p *time.Time) *time.Time {
		if p == nil {
			return nil
		}
		u := p.UTC()
		return &u
	}
	v.Source = ""
	v.StartedAt = v.StartedAt.UTC()
	v.Deadline, v.EndedAt, v.ForgetAt = utc(v.Deadline), utc(v.EndedAt), utc(v.ForgetAt)
	h := slices.Clone(v.History)
	for i := range h {
		h[i].At = h[i].At.UTC()
	}
	v.History = h
	return v
}
