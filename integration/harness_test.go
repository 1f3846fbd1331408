package integration

import (
	"bytes"
	"context"
	"fmt"
	"log"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/network"
	"github.com/stretchr/testify/require"
	"github.com/testcontainers/testcontainers-go"
	"github.com/testcontainers/testcontainers-go/wait"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/catering-match/catering-match/internal/embedded"
)

// broker is the Kafka the suite runs on, chosen once for the package:
// KAFKA_BROKERS when set (a real cluster, e.g. `make kafka-up`); otherwise
// apache/kafka:4.1.1 in testcontainers when a Docker engine answers;
// otherwise an embedded (in-process kfake) broker.
type broker struct {
	addr string
	kind string // "real", "testcontainers", "embedded"
	// restart stops the broker (hard: at once, as kill -9 does; else SIGTERM)
	// and starts it again on the same data; nil when the suite cannot.
	restart func(hard bool) error
}

func (b *broker) real() bool { return b.kind != "embedded" }

var (
	env  broker
	bins string // directory holding the built binaries
)

func TestMain(m *testing.M) {
	os.Exit(testMain(m))
}

func testMain(m *testing.M) int {
	dir, err := os.MkdirTemp("", "catering-it-bin-")
	if err != nil {
		log.Print(err)
		return 1
	}
	defer os.RemoveAll(dir)
	build := exec.Command("go", "build", "-race", "-o", dir+string(os.PathSeparator), "../cmd/catering-match", "../cmd/catering")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		log.Printf("build binaries: %v", err)
		return 1
	}
	bins = dir

	stop, err := chooseBroker()
	if err != nil {
		log.Printf("broker: %v", err)
		return 1
	}
	defer stop()
	log.Printf("integration suite runs on the %s broker at %s", env.kind, env.addr)
	return m.Run()
}

func chooseBroker() (stop func(), err error) {
	if addr := os.Getenv("KAFKA_BROKERS"); addr != "" {
		env = broker{addr: addr, kind: "real"}
		if s, err := filepath.Abs("kafka/kafka.sh"); err == nil {
			env.restart = func(hard bool) error {
				cmd := "restart"
				if hard {
					cmd = "restart-hard"
				}
				out, err := exec.Command("bash", s, cmd).CombinedOutput()
				if err != nil {
					return fmt.Errorf("kafka.sh %s: %w: %s", cmd, err, out)
				}
				return nil
			}
		}
		return func() {}, nil
	}
	c, addr, ok, err := startContainer()
	if ok {
		env = broker{addr: addr, kind: "testcontainers", restart: func(hard bool) error { return restartContainer(c, addr, hard) }}
		return func() {
			if err := c.Terminate(context.Background()); err != nil {
				log.Printf("stop the Kafka container: %v", err)
			}
		}, nil
	}
	if err != nil {
		if os.Getenv("CATERING_IT_REQUIRE_CONTAINERS") != "" {
			return nil, fmt.Errorf("%w (CATERING_IT_REQUIRE_CONTAINERS is set, so the suite does not fall back to the embedded broker)", err)
		}
		log.Printf("%v: using the embedded broker", err)
	}
	b, err := embedded.StartAnyPort(embedded.Options{})
	if err != nil {
		return nil, err
	}
	env = broker{addr: b.Addr(), kind: "embedded"}
	return b.Close, nil
}

// kafkaImage is the broker image on testcontainers: pulled on a Docker host;
// here, where no registry answers, integration/containers/podman.sh builds
// one under this name.
const kafkaImage = "apache/kafka:4.1.1"

// engineAnswers reports whether a Docker engine (or podman's Docker API)
// answers within a few seconds, and why not.
func engineAnswers() (bool, string) {
	if os.Getenv("CATERING_IT_NO_DOCKER") != "" {
		return false, "CATERING_IT_NO_DOCKER is set"
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	provider, err := testcontainers.NewDockerProvider()
	if err != nil {
		return false, "no Docker engine: " + firstLine(err)
	}
	defer provider.Close()
	if err := provider.Health(ctx); err != nil {
		return false, "no Docker engine answers: " + firstLine(err)
	}
	return true, ""
}

// startContainer runs kafkaImage when a Docker engine answers within a few
// seconds. No engine is not a failure: ok is false and err nil. An engine
// whose Kafka container does not come up, or whose published port does not
// answer, gets a second try with a fresh container; err says why both failed.
func startContainer() (c testcontainers.Container, addr string, ok bool, err error) {
	if up, why := engineAnswers(); !up {
		if os.Getenv("CATERING_IT_REQUIRE_CONTAINERS") != "" {
			return nil, "", false, fmt.Errorf("%s", why)
		}
		log.Printf("%s: using the embedded broker (make test-containers runs the suite on testcontainers)", why)
		return nil, "", false, nil
	}
	c, addr, err = runKafkaContainer(false)
	if err == nil {
		return c, addr, true, nil
	}
	log.Printf("the Kafka container failed (%v): trying once more with a fresh one on the host's network", err)
	c, addr, err2 := runKafkaContainer(true)
	if err2 == nil {
		return c, addr, true, nil
	}
	return nil, "", false, fmt.Errorf("the Kafka container failed twice: with a published port: %v; on the host's network: %w", err, err2)
}

// containerPort is the fixed host port of the broker's container: below
// 32768 and advertised as such (not kafka.sh's 19092-19094).
const containerPort = "19095"

// runKafkaContainer starts one broker container and returns once its port
// answers Kafka requests from the host; on any failure it removes the
// container again. By default the port is published from the container's
// own network (portable to any Docker host); hostNet runs the container on
// the host's network instead, every listener on loopback (Linux engines
// only), which leaves no port forwarding to fail.
func runKafkaContainer(hostNet bool) (testcontainers.Container, string, error) {
	port := containerPort
	addr := "127.0.0.1:" + port
	var netOpt testcontainers.ContainerCustomizer = testcontainers.WithExposedPorts(port + "/tcp")
	bind, inner, ctrl := "", "localhost:9092", "localhost:9093"
	if hostNet {
		netOpt = testcontainers.WithHostConfigModifier(func(hc *container.HostConfig) { hc.NetworkMode = "host" })
		bind, inner, ctrl = "127.0.0.1", "127.0.0.1:19096", "127.0.0.1:19097"
	}
	cctx, ccancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer ccancel()
	c, err := testcontainers.Run(cctx, kafkaImage,
		netOpt,
		testcontainers.WithHostConfigModifier(func(hc *container.HostConfig) {
			if !hostNet {
				hc.PortBindings = network.PortMap{network.MustParsePort(port + "/tcp"): {{HostIP: netip.MustParseAddr("127.0.0.1"), HostPort: port}}}
			}
		}),
		testcontainers.WithEnv(map[string]string{
			"KAFKA_NODE_ID":                                  "1",
			"KAFKA_PROCESS_ROLES":                            "broker,controller",
			"KAFKA_LISTENERS":                                "PLAINTEXT://" + bind + ":" + portOf(inner) + ",CONTROLLER://" + bind + ":" + portOf(ctrl) + ",HOST://" + bind + ":" + port,
			"KAFKA_ADVERTISED_LISTENERS":                     "PLAINTEXT://" + inner + ",HOST://" + addr,
			"KAFKA_CONTROLLER_LISTENER_NAMES":                "CONTROLLER",
			"KAFKA_LISTENER_SECURITY_PROTOCOL_MAP":           "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT,HOST:PLAINTEXT",
			"KAFKA_INTER_BROKER_LISTENER_NAME":               "PLAINTEXT",
			"KAFKA_CONTROLLER_QUORUM_VOTERS":                 "1@" + ctrl,
			"KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR":         "1",
			"KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR": "1",
			"KAFKA_TRANSACTION_STATE_LOG_MIN_ISR":            "1",
			"KAFKA_GROUP_INITIAL_REBALANCE_DELAY_MS":         "0",
			"KAFKA_LOG_CLEANER_BACKOFF_MS":                   "1000",
			"CLUSTER_ID":                                     "4L6g3nShT-eMCtK--X86sw",
		}),
		testcontainers.WithWaitStrategy(wait.ForLog("Transitioning from RECOVERY to RUNNING").WithStartupTimeout(2*time.Minute)),
	)
	if err == nil {
		// The broker's log line says it runs inside the container; the
		// suite talks to it through the published port, so that must answer
		// too (a CI run once got "connection refused" there for minutes
		// after the container reported ready).
		actx, acancel := context.WithTimeout(context.Background(), time.Minute)
		err = kafkaAnswers(actx, addr)
		acancel()
		if err != nil {
			err = fmt.Errorf("%w; container: %s", err, containerState(c))
		}
	}
	if err != nil {
		if c != nil {
			_ = c.Terminate(context.Background())
		}
		return nil, "", fmt.Errorf("%s", firstLine(err))
	}
	return c, addr, nil
}

// kafkaAnswers waits until the broker at addr answers a metadata request
// with itself as a broker, or ctx ends.
func kafkaAnswers(ctx context.Context, addr string) error {
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr))
	if err != nil {
		return err
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	for {
		m, err := adm.BrokerMetadata(ctx)
		if err == nil && len(m.Brokers) > 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("Kafka does not answer at %s: %v", addr, err)
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// containerState is what an operator needs when a container's port does
// not answer: whether it still runs, its exit code, and its last log line.
func containerState(c testcontainers.Container) string {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	st, err := c.State(ctx)
	if err != nil {
		return "state unknown: " + firstLine(err)
	}
	last := ""
	if lines := strings.Split(strings.TrimSpace(containerLog(c)), "\n"); len(lines) > 0 {
		last = lines[len(lines)-1]
	}
	return fmt.Sprintf("%s (running=%t, exit code %d, OOM-killed=%t), last log line: %q", c.GetContainerID()[:12], st.Running, st.ExitCode, st.OOMKilled, last)
}

// restartContainer stops the broker's container (hard: SIGKILL at once) and
// starts it again on its own file system, then waits until the broker
// answers a metadata request with itself as a broker.
func restartContainer(c testcontainers.Container, addr string, hard bool) error {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	grace := 30 * time.Second
	if hard {
		grace = 0
	}
	if err := c.Stop(ctx, &grace); err != nil {
		return fmt.Errorf("stop the Kafka container: %w", err)
	}
	if err := c.Start(ctx); err != nil {
		return fmt.Errorf("start the Kafka container again: %w", err)
	}
	if err := kafkaAnswers(ctx, addr); err != nil {
		return fmt.Errorf("the restarted Kafka container: %w", err)
	}
	return nil
}

func portOf(hostPort string) string { _, p, _ := strings.Cut(hostPort, ":"); return p }

func firstLine(err error) string {
	s, _, _ := strings.Cut(err.Error(), "\n")
	return s
}

// suite is one test's view: its own topics and group, and its services.
type suite struct {
	t       *testing.T
	id      string
	events  string
	cmds    string
	log     string
	dlq     string
	group   string
	parts   int
	cl      *kgo.Client
	adm     *kadm.Client
	extra   []string // extra service flags
	logMu   sync.Mutex
	running []*service
}

var suiteSeq atomic.Int64

func newSuite(t *testing.T, partitions int) *suite {
	t.Helper()
	t.Logf("broker=%s addr=%s", env.kind, env.addr)
	id := fmt.Sprintf("%s-%d-%d", strings.ToLower(strings.ReplaceAll(t.Name(), "/", "-")), time.Now().UnixNano()%1e6, suiteSeq.Add(1))
	s := &suite{t: t, id: id, events: id + "-events", cmds: id + "-commands", log: id + "-changelog",
		dlq: id + "-dlq", group: id, parts: partitions}
	cl, err := kgo.NewClient(kgo.SeedBrokers(env.addr), kgo.ProducerLinger(5*time.Millisecond))
	require.NoError(t, err)
	s.cl, s.adm = cl, kadm.NewClient(cl)
	t.Cleanup(func() {
		for _, svc := range s.running {
			svc.kill()
		}
		cl.Close()
	})
	return s
}

// serviceArgs are the flags every instance of this suite gets.
func (s *suite) serviceArgs(instance string) []string {
	args := []string{
		"--brokers", env.addr, "--group", s.group, "--instance-id", instance,
		"--events-topic", s.events, "--commands-topic", s.cmds, "--changelog-topic", s.log, "--dlq-topic", s.dlq,
		"--partitions", fmt.Sprint(s.parts), "--replication-factor", "1",
		"--session-timeout", "6s", "--transaction-timeout", "10s", "--tick-interval", "500ms",
		"--log-format", "json", "--http-addr=",
	}
	return append(args, s.extra...)
}

// service is one catering-match process.
type service struct {
	name string
	cmd  *exec.Cmd
	done chan struct{}
	err  error
	out  *syncBuffer
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// start runs an instance; its log goes to the test log when the test fails.
func (s *suite) start(instance string, extra ...string) *service {
	s.t.Helper()
	return s.startEnv(instance, nil, extra...)
}

// startEnv is start with extra child environment. CATERING_SASL_* of the
// test's own environment are not passed on: the case decides them.
func (s *suite) startEnv(instance string, childEnv []string, extra ...string) *service {
	s.t.Helper()
	args := append(s.serviceArgs(instance), extra...)
	cmd := exec.Command(filepath.Join(bins, "catering-match"), args...)
	cmd.Env = append(append(baseEnv(), "GORACE=halt_on_error=1"), childEnv...)
	svc := &service{name: instance, cmd: cmd, done: make(chan struct{}), out: &syncBuffer{}}
	cmd.Stdout, cmd.Stderr = svc.out, svc.out
	require.NoError(s.t, cmd.Start())
	go func() {
		svc.err = cmd.Wait()
		close(svc.done)
	}()
	s.running = append(s.running, svc)
	s.t.Cleanup(func() {
		if s.t.Failed() {
			s.t.Logf("--- log of %s (last 60 lines):\n%s", svc.name, tail(svc.out.String(), 60))
		}
	})
	return svc
}

// baseEnv is the test's environment for a child process, without CATERING_SASL_*:
// the tests that need credentials set them themselves.
func baseEnv() []string {
	var out []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "CATERING_SASL_") {
			out = append(out, kv)
		}
	}
	return out
}

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// stop sends SIGTERM and waits for a clean exit. It first waits for the
// instance's first log line: until main has installed its signal handler,
// SIGTERM's default action ends the process ("signal: terminated"), and a
// race-instrumented binary takes ~70 ms, more on a loaded machine, to get
// there.
func (svc *service) stop(t *testing.T) {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); svc.out.String() == "" && !svc.exited(); {
		if time.Now().After(deadline) {
			svc.kill()
			t.Fatalf("%s printed nothing within 30s of its start", svc.name)
		}
		time.Sleep(10 * time.Millisecond)
	}
	_ = svc.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-svc.done:
		require.NoError(t, svc.err, "%s did not exit cleanly on SIGTERM", svc.name)
	case <-time.After(60 * time.Second):
		svc.kill()
		t.Fatalf("%s did not stop within 60s of SIGTERM", svc.name)
	}
}

// kill sends SIGKILL (kill -9) and waits for the process to be gone.
func (svc *service) kill() {
	_ = svc.cmd.Process.Kill()
	<-svc.done
}

// exited reports whether the process has ended.
func (svc *service) exited() bool {
	select {
	case <-svc.done:
		return true
	default:
		return false
	}
}

// publish produces records to the events topic (murmur2 key partitioning,
// franz-go's default, like Java's), in order per key.
func (s *suite) publish(recs []input) {
	s.t.Helper()
	if err := s.tryPublish(recs); err != nil {
		s.t.Fatalf("publish: %v", err)
	}
}

// tryPublish is publish returning its error, for background goroutines.
func (s *suite) tryPublish(recs []input) error {
	return s.publishCtx(context.Background(), recs)
}

// publishCtx is tryPublish that also stops when ctx ends.
func (s *suite) publishCtx(ctx context.Context, recs []input) error {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	var firstErr atomic.Value
	var wg sync.WaitGroup
	for _, in := range recs {
		wg.Add(1)
		s.cl.Produce(ctx, &kgo.Record{Topic: s.events, Key: in.key, Value: in.value, Headers: []kgo.RecordHeader{{Key: "origin", Value: []byte("it")}}},
			func(_ *kgo.Record, err error) {
				if err != nil {
					firstErr.CompareAndSwap(nil, err)
				}
				wg.Done()
			})
	}
	wg.Wait()
	err, _ := firstErr.Load().(error)
	return err
}

// createTopics creates the suite's topics as the test wants them, before
// the service does.
func (s *suite) createTopics(eventsParts, changelogParts int32, changelogConfigs map[string]*string) {
	s.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	_, err := s.adm.CreateTopic(ctx, eventsParts, 1, nil, s.events)
	require.NoError(s.t, err)
	_, err = s.adm.CreateTopic(ctx, changelogParts, 1, changelogConfigs, s.log)
	require.NoError(s.t, err)
}

// waitProcessed waits until the group's committed offsets reach the end of
// the events topic, i.e. every published record is accounted for.
func (s *suite) waitProcessed(within time.Duration, alive ...*service) {
	s.t.Helper()
	deadline := time.Now().Add(within)
	var lag int64
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		l, err := s.adm.Lag(ctx, s.group)
		cancel()
		if err == nil {
			if gl, ok := l[s.group]; ok && gl.FetchErr == nil && gl.DescribeErr == nil {
				lag = 0
				ends := 0
				for _, pl := range gl.Lag[s.events] {
					ends++
					if pl.Err != nil || pl.Commit.At < 0 {
						lag += pl.End.Offset
					} else {
						lag += pl.Lag
					}
				}
				if ends == s.parts && lag == 0 {
					return
				}
			}
		}
		for _, svc := range alive {
			if svc.exited() {
				s.t.Fatalf("%s exited while waiting for processing: %v", svc.name, svc.err)
			}
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("not processed within %v: lag %d", within, lag)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// readTopic reads a topic read_committed from the start to its stable end.
func (s *suite) readTopic(topic string) []*kgo.Record {
	s.t.Helper()
	var out []*kgo.Record
	for _, r := range s.readTopicAll(topic) {
		if !r.Attrs.IsControl() {
			out = append(out, r)
		}
	}
	return out
}

// readTopicAll is readTopic with the transaction markers kept.
func (s *suite) readTopicAll(topic string) []*kgo.Record {
	s.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var ends map[int32]int64
	for {
		// Wait until no transaction is open (stable == end): the suite
		// reads once the services are idle.
		stable, err := s.adm.ListCommittedOffsets(ctx, topic)
		require.NoError(s.t, err)
		high, err := s.adm.ListEndOffsets(ctx, topic)
		require.NoError(s.t, err)
		ends = map[int32]int64{}
		open := false
		stable.Each(func(o kadm.ListedOffset) {
			if h, ok := high.Lookup(topic, o.Partition); ok && h.Offset != o.Offset {
				open = true
			}
			if o.Offset > 0 {
				ends[o.Partition] = o.Offset
			}
		})
		if !open {
			break
		}
		require.NoError(s.t, ctx.Err(), "topic %s keeps an open transaction", topic)
		time.Sleep(200 * time.Millisecond)
	}
	if len(ends) == 0 {
		return nil
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(env.addr), kgo.ConsumeTopics(topic),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()), kgo.KeepControlRecords(),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	require.NoError(s.t, err)
	defer cl.Close()
	var out []*kgo.Record
	for len(ends) > 0 {
		fs := cl.PollFetches(ctx)
		require.NoError(s.t, ctx.Err(), "reading %s: still waiting for partitions %v", topic, ends)
		fs.EachRecord(func(r *kgo.Record) {
			if end, ok := ends[r.Partition]; ok && r.Offset+1 >= end {
				delete(ends, r.Partition)
			}
			out = append(out, r)
		})
	}
	return out
}

// runClient runs the catering client binary and returns its stdout.
func runClient(t *testing.T, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command(filepath.Join(bins, "catering"), append(args, "--brokers", env.addr)...)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	if err != nil {
		err = fmt.Errorf("%w: %s", err, errOut.String())
	}
	return out.String(), err
}

// waitLog waits until a line of the service's log contains substr.
func (svc *service) waitLog(t *testing.T, substr string, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !strings.Contains(svc.out.String(), substr) {
		if svc.exited() || time.Now().After(deadline) {
			t.Fatalf("%s: no log line with %q (exited=%v)", svc.name, substr, svc.exited())
		}
		time.Sleep(100 * time.Millisecond)
	}
}
