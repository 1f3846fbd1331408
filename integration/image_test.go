package integration

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"testing"
	"time"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/client"
	"github.com/stretchr/testify/require"
	"github.com/testcontainers/testcontainers-go"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/catering-match/catering-match/topics"
)

// imageUnderTest is the service image to test (CATERING_IMAGE, set by
// `make test-containers`), or a skip naming how to run it.
func imageUnderTest(t *testing.T) string {
	t.Helper()
	image := os.Getenv("CATERING_IMAGE")
	if image == "" {
		t.Skip("CATERING_IMAGE is not set: `make test-containers` builds the image and runs this test")
	}
	if up, why := engineAnswers(); !up {
		t.Skipf("%s: `make test-containers` starts podman's Docker API and runs this test", why)
	}
	return image
}

// runImage starts the service image with the host's network (so it reaches
// a broker on 127.0.0.1, as the test does) and the given arguments.
func runImage(t *testing.T, image, name string, args []string, opts ...testcontainers.ContainerCustomizer) testcontainers.Container {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	c, err := testcontainers.Run(ctx, image, append([]testcontainers.ContainerCustomizer{
		testcontainers.WithName(fmt.Sprintf("%s-%d", name, time.Now().UnixNano()%1e9)),
		testcontainers.WithCmd(args...),
		testcontainers.WithHostConfigModifier(func(hc *container.HostConfig) { hc.NetworkMode = "host" }),
	}, opts...)...)
	if c != nil {
		t.Cleanup(func() {
			if t.Failed() {
				t.Logf("--- log of the %s container:\n%s", name, tail(containerLog(c), 60))
			}
			_ = c.Terminate(context.Background())
		})
	}
	require.NoError(t, err, "run %s", image)
	return c
}

func containerLog(c testcontainers.Container) string {
	r, err := c.Logs(context.Background())
	if err != nil {
		return err.Error()
	}
	defer r.Close()
	b, _ := io.ReadAll(r)
	return string(b)
}

// waitImageReady polls an ops endpoint until it answers 200.
func waitImageReady(t *testing.T, c testcontainers.Container, url string, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		resp, err := http.Get(url)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		if st, serr := c.State(context.Background()); serr == nil && !st.Running {
			t.Fatalf("the container exited (code %d) before %s answered", st.ExitCode, url)
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s did not answer 200 within %v (last: %v)", url, within, err)
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// stopImage stops the container with SIGTERM and a grace period, and
// requires exit code 0: a container still running at the end of the grace
// period is killed, and exits 137.
func stopImage(t *testing.T, c testcontainers.Container, grace time.Duration) {
	t.Helper()
	start := time.Now()
	require.NoError(t, c.Stop(context.Background(), &grace))
	took := time.Since(start)
	info, err := c.Inspect(context.Background())
	require.NoError(t, err)
	require.Equal(t, 0, info.State.ExitCode, "exit code after SIGTERM (137: killed at the end of the %v grace period)", grace)
	require.False(t, info.State.OOMKilled)
	t.Logf("stopped by SIGTERM in %v (grace period %v), exit code 0", took.Round(time.Millisecond), grace)
}

// TestImage: the service image as built by the Dockerfile runs as a
// non-root user with its ops port, volume and health check declared; against
// the suite's broker it turns a match into one ConfirmOrder, its health check
// command works inside it, and SIGTERM stops it with exit code 0.
func TestImage(t *testing.T) {
	image := imageUnderTest(t)
	s := newSuite(t, 3)
	const ops = "127.0.0.1:18090"
	args := append(s.serviceArgs("image"), "--http-addr", ops)
	c := runImage(t, image, "catering-image", args)

	provider, err := testcontainers.NewDockerProvider()
	require.NoError(t, err)
	defer provider.Close()
	img, err := provider.Client().ImageInspect(context.Background(), image)
	require.NoError(t, err)
	cfg := img.Config
	require.NotNil(t, cfg)
	require.Equal(t, "65532:65532", cfg.User, "the image runs as the non-root user")
	require.Contains(t, cfg.ExposedPorts, "8080/tcp", "EXPOSE of the ops port")
	require.Contains(t, cfg.Volumes, "/data", "the embedded broker's data directory is a volume")
	require.Contains(t, cfg.Env, "CATERING_DATA_DIR=/data")
	require.Contains(t, cfg.Env, "CATERING_HTTP_ADDR=:8080")
	// podman's Docker API leaves the health check out of an image's
	// inspection, not out of a container's.
	info, err := c.Inspect(context.Background())
	require.NoError(t, err)
	require.NotNil(t, info.Config.Healthcheck, "HEALTHCHECK")
	require.Equal(t, []string{"CMD", "/usr/local/bin/catering", "probe", "http://127.0.0.1:8080/healthz"}, info.Config.Healthcheck.Test)

	waitImageReady(t, c, "http://"+ops+"/readyz", 2*time.Minute)
	for _, path := range []string{"/healthz", "/readyz"} {
		code, out, err := c.Exec(context.Background(), []string{"/usr/local/bin/catering", "probe", "http://" + ops + path})
		require.NoError(t, err)
		b, _ := io.ReadAll(out)
		require.Equal(t, 0, code, "catering probe %s in the container: %s", path, b)
	}

	s.publish([]input{
		genEvent{ID: "img-c", Type: "CustomerConfirmedMenu", Order: "image-1", Menu: "m"}.record(),
		genEvent{ID: "img-k", Type: "CatererConfirmedMenu", Order: "image-1", Menu: "m"}.record(),
	})
	s.waitProcessed(2 * time.Minute)
	cmds := s.readTopic(s.cmds)
	require.Len(t, cmds, 1, "one ConfirmOrder")
	require.Equal(t, "image-1", string(cmds[0].Key))
	require.Contains(t, string(cmds[0].Value), `"causation_id":"img-k"`)

	stopImage(t, c, 30*time.Second)
}

// TestImageEmbeddedVolume: with no brokers the image runs its embedded
// broker, persisted to the /data volume. Half a match goes to one
// container; the container is removed, and the other half goes to a new
// container on the same volume. One ConfirmOrder proves that the topics
// and the process state lived in the volume, not in the container.
func TestImageEmbeddedVolume(t *testing.T) {
	image := imageUnderTest(t)
	const (
		broker = "127.0.0.1:19392"
		ops    = "127.0.0.1:18091"
	)
	volume := fmt.Sprintf("catering-it-data-%d", time.Now().UnixNano()%1e9)
	provider, err := testcontainers.NewDockerProvider()
	require.NoError(t, err)
	defer provider.Close()
	t.Cleanup(func() {
		_, _ = provider.Client().VolumeRemove(context.Background(), volume, client.VolumeRemoveOptions{Force: true})
	})
	args := []string{"--embedded-port", "19392", "--http-addr", ops}
	mount := testcontainers.WithMounts(testcontainers.VolumeMount(volume, "/data"))
	names := topics.DefaultNames()
	produce := func(e genEvent) {
		cl, err := kgo.NewClient(kgo.SeedBrokers(broker))
		require.NoError(t, err)
		defer cl.Close()
		in := e.record()
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		require.NoError(t, cl.ProduceSync(ctx, &kgo.Record{Topic: names.Events, Key: in.key, Value: in.value}).FirstErr())
	}

	first := runImage(t, image, "catering-embedded-1", args, mount)
	waitImageReady(t, first, "http://"+ops+"/readyz", 2*time.Minute)
	produce(genEvent{ID: "vol-c", Type: "CustomerConfirmedMenu", Order: "volume-1", Menu: "m"})
	// Applied once its process record is in the changelog.
	require.Eventually(t, func() bool { return len(readAt(t, broker, names.Changelog)) > 0 }, time.Minute, 250*time.Millisecond)
	stopImage(t, first, 30*time.Second)
	require.NoError(t, first.Terminate(context.Background()))

	second := runImage(t, image, "catering-embedded-2", args, mount)
	waitImageReady(t, second, "http://"+ops+"/readyz", 2*time.Minute)
	produce(genEvent{ID: "vol-k", Type: "CatererConfirmedMenu", Order: "volume-1", Menu: "m"})
	var cmds []*kgo.Record
	require.Eventually(t, func() bool { cmds = readAt(t, broker, names.Commands); return len(cmds) > 0 }, time.Minute, 250*time.Millisecond)
	require.Len(t, cmds, 1)
	require.Contains(t, string(cmds[0].Value), `"causation_id":"vol-k"`)
	stopImage(t, second, 30*time.Second)
}

// readAt reads a topic of the broker at addr read_committed, from the start
// to its end as of now (no transaction markers).
func readAt(t *testing.T, addr, topic string) []*kgo.Record {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchIsolationLevel(kgo.ReadCommitted()))
	require.NoError(t, err)
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	var out []*kgo.Record
	for {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			return out
		}
		out = append(out, fs.Records()...)
	}
}
