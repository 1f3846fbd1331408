package integration

import (
	"encoding/json"
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// scale is the number of orders per generated workload: CATERING_IT_ORDERS,
// default 600 (CI's size); the long runs in docs/ use tens of thousands.
func scale(t *testing.T) int {
	if v := os.Getenv("CATERING_IT_ORDERS"); v != "" {
		n, err := strconv.Atoi(v)
		require.NoError(t, err, "CATERING_IT_ORDERS")
		return n
	}
	return 600
}

func seed(t *testing.T) uint64 {
	if v := os.Getenv("CATERING_IT_SEED"); v != "" {
		n, err := strconv.ParseUint(v, 10, 64)
		require.NoError(t, err, "CATERING_IT_SEED")
		return n
	}
	n := uint64(time.Now().UnixNano())
	t.Logf("seed %d (rerun with CATERING_IT_SEED=%d)", n, n)
	return n
}

type command struct {
	CommandID     string `json:"command_id"`
	Type          string `json:"type"`
	OrderID       string `json:"order_id"`
	MenuID        string `json:"menu_id"`
	IssuedAt      string `json:"issued_at"`
	CausationID   string `json:"causation_id"`
	CorrelationID string `json:"correlation_id"`
}

// verify compares the read_committed commands topic and the DLQ with the
// oracle: exactly the expected commands, no duplicates, nothing extra, and
// every malformed record dead-lettered byte for byte.
func (s *suite) verify(exp *expectation) {
	s.t.Helper()
	var problems []string
	report := func(order, format string, args ...any) {
		msg := fmt.Sprintf(format, args...)
		if p := exp.orders[order]; p != nil && len(problems) < 10 {
			var evs []string
			for _, e := range p.events {
				evs = append(evs, fmt.Sprintf("%s(%s,%q)", e.Type, e.ID, e.Menu))
			}
			msg += "; events: " + strings.Join(evs, " ")
		}
		problems = append(problems, msg)
	}

	got := map[string][]command{}
	for _, r := range s.readTopic(s.cmds) {
		var c command
		if err := json.Unmarshal(r.Value, &c); err != nil {
			problems = append(problems, fmt.Sprintf("command at %d/%d is not JSON: %q", r.Partition, r.Offset, r.Value))
			continue
		}
		if string(r.Key) != c.OrderID {
			report(c.OrderID, "command key %q differs from order_id %q", r.Key, c.OrderID)
		}
		if h := header(r, "type"); h != "ConfirmOrder" {
			report(c.OrderID, "command header type=%q, want ConfirmOrder", h)
		}
		got[c.OrderID] = append(got[c.OrderID], c)
	}
	for order, cs := range got {
		want, ok := exp.commands[order]
		switch {
		case !ok:
			report(order, "order %s has %d ConfirmOrder but its events form no match", order, len(cs))
			continue
		case len(cs) != 1:
			report(order, "order %s has %d ConfirmOrder, want exactly 1", order, len(cs))
		}
		c := cs[0]
		if c.MenuID != want.menu || c.CausationID != want.causation || c.Type != "ConfirmOrder" ||
			c.CorrelationID != order || c.CommandID != expectedCommandID(order) {
			report(order, "order %s: command %+v, want menu %q causation %q command_id %s", order, c, want.menu, want.causation, expectedCommandID(order))
		}
		if _, err := time.Parse(time.RFC3339Nano, c.IssuedAt); err != nil {
			report(order, "order %s: issued_at %q is not RFC 3339", order, c.IssuedAt)
		}
	}
	for order := range exp.commands {
		if len(got[order]) == 0 {
			report(order, "order %s matched but has no ConfirmOrder", order)
		}
	}

	dlq := map[string]int{}
	for _, r := range s.readTopic(s.dlq) {
		dlq[string(r.Key)+"\x00"+string(r.Value)]++
		if header(r, "dlq-reason") == "" || header(r, "dlq-topic") != s.events ||
			header(r, "dlq-partition") == "" || header(r, "dlq-offset") == "" || header(r, "origin") != "it" {
			problems = append(problems, fmt.Sprintf("DLQ record %d/%d lacks headers: %v", r.Partition, r.Offset, r.Headers))
		}
	}
	for k, n := range exp.malformed {
		if dlq[k] != n {
			problems = append(problems, fmt.Sprintf("malformed record %q: %d in the DLQ, want %d", short(k), dlq[k], n))
		}
	}
	for k, n := range dlq {
		if exp.malformed[k] == 0 {
			problems = append(problems, fmt.Sprintf("DLQ holds %d of %q, which is not malformed", n, short(k)))
		}
	}
	s.t.Logf("verified: %d orders, %d records, %d ConfirmOrder expected, %d got, %d dead letters",
		len(exp.orders), exp.records, len(exp.commands), len(got), sum(dlq))
	if len(problems) > 0 {
		sort.Strings(problems)
		if len(problems) > 20 {
			problems = append(problems[:20], fmt.Sprintf("... and %d more", len(problems)-20))
		}
		s.t.Fatalf("%d violations of docs/contract.md:\n%s", len(problems), strings.Join(problems, "\n"))
	}
}

// verifyAll is verify plus the changelog: every order's latest process
// record is the fold of its applied events.
func (s *suite) verifyAll(exp *expectation) {
	s.t.Helper()
	s.verify(exp)
	latest, _ := s.latest()
	s.verifyChangelog(exp, latest)
}

func header(r *kgo.Record, key string) string {
	for _, h := range r.Headers {
		if h.Key == key {
			return string(h.Value)
		}
	}
	return ""
}

func short(s string) string {
	s = strings.ReplaceAll(s, "\x00", " | ")
	if len(s) > 80 {
		return s[:80] + "…"
	}
	return s
}

func sum(m map[string]int) (n int) {
	for _, v := range m {
		n += v
	}
	return n
}

// TestGeneratedOrders: every shape of order, one instance, checked against
// the oracle.
func TestGeneratedOrders(t *testing.T) {
	s := newSuite(t, 6)
	recs, exp := workload(seed(t), scale(t), "o")
	svc := s.start("a")
	s.publish(recs)
	s.waitProcessed(5*time.Minute, svc)
	s.verifyAll(exp)
	svc.stop(t)
}

// TestRestartMidStream stops the service while events flow, once with
// SIGTERM and once with kill -9, and restarts it: results stay exact.
func TestRestartMidStream(t *testing.T) {
	for _, hard := range []bool{false, true} {
		name := map[bool]string{false: "SIGTERM", true: "kill-9"}[hard]
		t.Run(name, func(t *testing.T) {
			s := newSuite(t, 6)
			recs, exp := workload(seed(t), scale(t), "r")
			svc := s.start("a")
			third := len(recs) / 3
			s.publish(recs[:third])
			waitProgress(t, s, int64(third/2))
			s.publish(recs[third : 2*third])
			if hard {
				svc.kill()
			} else {
				svc.stop(t)
			}
			s.publish(recs[2*third:])
			svc = s.start("a")
			s.waitProcessed(5*time.Minute, svc)
			s.verifyAll(exp)

			// Duplicates of everything after the restart issue nothing new;
			// the malformed records among them are dead-lettered again.
			s.publish(recs)
			for k := range exp.malformed {
				exp.malformed[k] *= 2
			}
			exp.records *= 2
			s.waitProcessed(5*time.Minute, svc)
			s.verifyAll(exp)
			svc.stop(t)
		})
	}
}

// waitProgress waits until the group has committed at least n offsets.
func waitProgress(t *testing.T, s *suite, n int64) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for time.Now().Before(deadline) {
		offs, err := s.adm.FetchOffsets(t.Context(), s.group)
		if err == nil {
			var total int64
			offs.Each(func(o kadm.OffsetResponse) {
				if o.Err == nil && o.At > 0 {
					total += o.At
				}
			})
			if total >= n {
				return
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("the group did not commit %d offsets within 2m", n)
}

// TestScaleOutAndIn: two, then three instances share the group while
// events flow; one leaves mid-stream (SIGTERM), another is killed.
func TestScaleOutAndIn(t *testing.T) {
	s := newSuite(t, 6)
	recs, exp := workload(seed(t), scale(t), "s")
	quarter := len(recs) / 4
	a := s.start("a")
	b := s.start("b")
	s.publish(recs[:quarter])
	waitProgress(t, s, int64(quarter/2))
	c := s.start("c")
	s.publish(recs[quarter : 2*quarter])
	waitProgress(t, s, int64(quarter))
	b.stop(t) // leaves mid-stream
	s.publish(recs[2*quarter : 3*quarter])
	waitProgress(t, s, int64(2*quarter))
	c.kill() // crashes mid-stream
	s.publish(recs[3*quarter:])
	s.waitProcessed(5*time.Minute, a)
	s.verifyAll(exp)
	a.stop(t)
}

// waitRefused waits for the service to exit on its own with an error.
func (svc *service) waitRefused(t *testing.T) {
	t.Helper()
	select {
	case <-svc.done:
	case <-time.After(time.Minute):
		t.Fatal("the service did not refuse to start")
	}
	require.Error(t, svc.err)
}

// TestTopicMismatchRefused: a changelog that is not co-partitioned, or not
// compacted, stops the service at start with an error naming the problem.
func TestTopicMismatchRefused(t *testing.T) {
	t.Run("partition counts differ", func(t *testing.T) {
		s := newSuite(t, 3)
		s.createTopics(3, 2, map[string]*string{"cleanup.policy": kadm.StringPtr("compact")})
		svc := s.start("a")
		svc.waitRefused(t)
		out := svc.out.String()
		require.Contains(t, out, s.log)
		require.Contains(t, out, s.events)
		require.Contains(t, out, "has 2 partitions")
		require.Contains(t, out, "has 3")
	})
	t.Run("changelog not compacted", func(t *testing.T) {
		s := newSuite(t, 3)
		s.createTopics(3, 3, map[string]*string{"cleanup.policy": kadm.StringPtr("delete")})
		svc := s.start("a")
		svc.waitRefused(t)
		require.Contains(t, svc.out.String(), "cleanup.policy=delete")
	})
}
