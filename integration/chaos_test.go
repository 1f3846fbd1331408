package integration

import (
	"context"
	"math/rand/v2"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// The chaos suite (RELIABILITY.md item 2): hard faults while events flow.
// Every run ends with the oracle's check and with `catering verify`, the
// operators' auditor, passing on the same topics.

// publishPaced publishes recs in batches with a pause between them, in the
// background, so that faults land while events flow. The channel closes
// when everything is published. The publisher stops when the test ends,
// and the test waits for it: it never reports into a finished test.
func (s *suite) publishPaced(recs []input, batch int, pause time.Duration) <-chan struct{} {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := 0; i < len(recs); i += batch {
			if err := s.publishCtx(ctx, recs[i:min(i+batch, len(recs))]); err != nil {
				if ctx.Err() == nil {
					s.t.Errorf("publish: %v", err) // never t.Fatal outside the test's goroutine
				}
				return
			}
			select {
			case <-ctx.Done():
				return
			case <-time.After(pause):
			}
		}
	}()
	s.t.Cleanup(func() { cancel(); <-done })
	return done
}

// auditor runs `catering verify` on the suite's topics and requires it to
// pass.
func (s *suite) auditor() {
	s.t.Helper()
	out, err := runClient(s.t, "verify", "--events-topic", s.events, "--commands-topic", s.cmds,
		"--dlq-topic", s.dlq, "--group", s.group)
	require.NoError(s.t, err, "catering verify:\n%s", out)
	require.Contains(s.t, out, "OK")
	s.t.Logf("catering verify:\n%s", out)
}

// settle waits for the publisher and for the live instances to process
// everything, checks the result, and stops the instances.
func (s *suite) settle(published <-chan struct{}, exp *expectation, alive ...*service) {
	s.t.Helper()
	<-published
	s.waitProcessed(5*time.Minute, alive...)
	s.check(exp)
	for _, svc := range alive {
		svc.stop(s.t)
	}
}

// check is the end of every chaos run: the oracle, then the auditor.
func (s *suite) check(exp *expectation) {
	s.t.Helper()
	s.verifyAll(exp)
	s.auditor()
}

// TestChaosKill9: kill -9 one of two instances three times, each after at
// least another 20% of the input was committed, and restart it.
func TestChaosKill9(t *testing.T) {
	s := newSuite(t, 6)
	recs, exp := workload(seed(t), scale(t)*2, "k")
	a, b := s.start("a"), s.start("b")
	published := s.publishPaced(recs, 50, 30*time.Millisecond)
	for i := 1; i <= 3; i++ {
		waitProgress(t, s, int64(len(recs)*i/5))
		victim := map[int]*service{0: a, 1: b}[rand.IntN(2)]
		victim.kill()
		t.Logf("killed %s (kill -9) after %d%% of the input", victim.name, 20*i)
		restarted := s.start(victim.name)
		if victim == a {
			a = restarted
		} else {
			b = restarted
		}
	}
	s.settle(published, exp, a, b)
}

// TestChaosZombie: SIGSTOP an instance past its session timeout while the
// other takes over its partitions, then SIGCONT it. Whatever it had in
// flight must be fenced: never visible read_committed.
func TestChaosZombie(t *testing.T) {
	s := newSuite(t, 6)
	recs, exp := workload(seed(t), scale(t)*2, "z")
	a, b := s.start("a"), s.start("b")
	published := s.publishPaced(recs, 50, 30*time.Millisecond)
	waitProgress(t, s, int64(len(recs)/4))
	require.NoError(t, b.cmd.Process.Signal(syscall.SIGSTOP))
	t.Log("SIGSTOP b")
	time.Sleep(9 * time.Second) // past the 6 s session timeout: a takes over
	waitProgress(t, s, int64(len(recs)/2))
	before := len(b.out.String())
	require.NoError(t, b.cmd.Process.Signal(syscall.SIGCONT))
	t.Log("SIGCONT b: it is a zombie until it notices")
	defer func() {
		// What the zombie did after waking, for the record (docs/chaos.md).
		for _, line := range strings.Split(b.out.String()[before:], "\n") {
			for _, what := range []string{"transaction aborted", "session failed", "partitions revoked", "partitions assigned"} {
				if strings.Contains(line, what) {
					t.Logf("zombie b after SIGCONT: %s", tail(line, 1))
				}
			}
		}
	}()
	s.settle(published, exp, a, b)
}

// TestChaosMembers: the kill -9 and the zombie with two consumer group
// members in each instance (--members 2). One instance is killed with both
// its members and restarted; the other is paused past its session timeout,
// and both its members wake as zombies. Their transactional ids, fencing
// and offsets are per member; the oracle and the auditor do not care.
func TestChaosMembers(t *testing.T) {
	s := newSuite(t, 6)
	recs, exp := workload(seed(t), scale(t)*2, "m")
	a, b := s.start("a", "--members", "2"), s.start("b", "--members", "2")
	published := s.publishPaced(recs, 50, 30*time.Millisecond)
	waitProgress(t, s, int64(len(recs)/4))
	a.kill()
	t.Log("killed a (kill -9) after 25% of the input")
	a = s.start("a", "--members", "2")
	waitProgress(t, s, int64(len(recs)/2))
	require.NoError(t, b.cmd.Process.Signal(syscall.SIGSTOP))
	t.Log("SIGSTOP b")
	time.Sleep(9 * time.Second) // past the 6 s session timeout: a's members take over
	waitProgress(t, s, int64(len(recs)*3/4))
	require.NoError(t, b.cmd.Process.Signal(syscall.SIGCONT))
	t.Log("SIGCONT b: two zombie members until they notice")
	s.settle(published, exp, a, b)
}

// TestChaosScale: 1 → 3 → 1 instances under load.
func TestChaosScale(t *testing.T) {
	s := newSuite(t, 6)
	recs, exp := workload(seed(t), scale(t)*2, "x")
	a := s.start("a")
	published := s.publishPaced(recs, 50, 30*time.Millisecond)
	waitProgress(t, s, int64(len(recs)/5))
	b, c := s.start("b"), s.start("c")
	waitProgress(t, s, int64(len(recs)*2/5))
	b.stop(t)
	c.kill()
	s.settle(published, exp, a)
}

// TestChaosStopDuringStartup: a second instance is stopped (SIGTERM) at
// points spread over its start: connecting, ensuring the topics, fencing
// its transactional id, joining, restoring, processing. Each time it exits
// 0, and the first instance's output still equals the oracle's.
func TestChaosStopDuringStartup(t *testing.T) {
	s := newSuite(t, 6)
	recs, exp := workload(seed(t), scale(t)*2, "u")
	a := s.start("a")
	published := s.publishPaced(recs, 50, 30*time.Millisecond)
	for i := range 8 {
		b := s.start("b")
		after := time.Duration(i) * 300 * time.Millisecond
		time.Sleep(after)
		b.stop(t)
		t.Logf("b stopped %v after its start (at its first log line at the earliest): exit 0", after)
	}
	s.settle(published, exp, a)
}

// TestChaosRandomAborts: a third of the transactions abort (a test-only
// switch); the output and every process record still equal the fold of
// the committed inputs.
func TestChaosRandomAborts(t *testing.T) {
	s := newSuite(t, 6)
	s.extra = []string{"--test-abort-every", "3"}
	recs, exp := workload(seed(t), scale(t), "q")
	a, b := s.start("a"), s.start("b")
	published := s.publishPaced(recs, 50, 20*time.Millisecond)
	<-published
	s.waitProcessed(5*time.Minute, a, b)
	aborted := strings.Count(a.out.String()+b.out.String(), "test-only random abort")
	require.Positive(t, aborted, "no transaction was aborted")
	t.Logf("%d transactions aborted at random", aborted)
	s.check(exp)
	a.stop(t)
	b.stop(t)
}

// TestChaosBrokerRestart: on a real broker (kafka.sh's or a container),
// restart it mid-stream, once cleanly (SIGTERM) and once with kill -9.
func TestChaosBrokerRestart(t *testing.T) {
	s := newSuite(t, 6)
	if env.restart == nil {
		t.Skip("needs a broker the suite can restart: integration/kafka/kafka.sh's (make test-kafka) or a container (make test-containers)")
	}
	recs, exp := workload(seed(t), scale(t)*2, "b")
	a := s.start("a")
	published := s.publishPaced(recs, 50, 30*time.Millisecond)
	for i, hard := range []bool{false, true} {
		waitProgress(t, s, int64(len(recs)*(i+1)/4))
		require.NoError(t, env.restart(hard))
		t.Logf("broker restart (hard=%v) done", hard)
	}
	s.settle(published, exp, a)
}

// TestRestoreEdgeCases: after a run, every changelog partition ends with a
// transaction marker; a new instance with nothing but Kafka restores them
// completely (no local state exists to wipe), tombstoned processes stay
// forgotten, and resent events are duplicates.
func TestRestoreEdgeCases(t *testing.T) {
	s := newSuite(t, 3)
	s.extra = []string{"--retention", "2s", "--tick-interval", "200ms"}
	recs, exp := workload(seed(t), scale(t)/2, "w")
	a := s.start("a")
	s.publish(recs)
	s.waitProcessed(5*time.Minute, a)
	// Matched orders are tombstoned after 2 s.
	require.Eventually(t, func() bool {
		l, _ := s.latest()
		for order := range exp.commands {
			if v, ok := l[order]; !ok || v != nil {
				return false
			}
		}
		return true
	}, time.Minute, 200*time.Millisecond, "matched orders not tombstoned")
	a.stop(t)

	all := s.readTopicAll(s.log)
	last := map[int32]bool{}
	for _, r := range all {
		last[r.Partition] = r.Attrs.IsControl()
	}
	for p, marker := range last {
		require.True(t, marker, "changelog partition %d does not end with a transaction marker", p)
	}
	latest, _ := s.latest()
	live := 0
	for _, v := range latest {
		if v != nil {
			live++
		}
	}

	b := s.start("b")
	b.waitLog(t, `"msg":"partition restored"`, time.Minute)
	s.waitProcessed(time.Minute, b)
	require.Eventually(t, func() bool { return restoredProcesses(b.out.String()) == live }, time.Minute, 100*time.Millisecond,
		"restored %d processes, want the %d live ones", restoredProcesses(b.out.String()), live)

	// Resent events of pending orders are duplicates: no command, no change.
	var pendingOnly []input
	for _, in := range recs {
		if _, matched := exp.commands[string(in.key)]; !matched && !in.malformed {
			pendingOnly = append(pendingOnly, in)
		}
	}
	s.publish(pendingOnly)
	s.waitProcessed(time.Minute, b)
	cmds := s.readTopic(s.cmds)
	require.Len(t, cmds, len(exp.commands))
	b.stop(t)
}
