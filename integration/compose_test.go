package integration

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kgo"
	"sigs.k8s.io/yaml"

	"github.com/catering-match/catering-match/topics"
)

// composeFile is the part of docker-compose.yml the tests check. Decoding
// is strict: a key this struct does not know fails the test, so the file
// cannot grow settings nobody checked.
type composeFile struct {
	Services map[string]composeService `json:"services"`
	Volumes  map[string]any            `json:"volumes"`
}

type composeService struct {
	Image string `json:"image"`
	Build *struct {
		Context string            `json:"context"`
		Args    map[string]string `json:"args"`
	} `json:"build"`
	Environment map[string]string `json:"environment"`
	Ports       []string          `json:"ports"`
	Volumes     []string          `json:"volumes"`
	DependsOn   map[string]struct {
		Condition string `json:"condition"`
	} `json:"depends_on"`
	Healthcheck *struct {
		Test        []string `json:"test"`
		Interval    string   `json:"interval"`
		Timeout     string   `json:"timeout"`
		Retries     int      `json:"retries"`
		StartPeriod string   `json:"start_period"`
	} `json:"healthcheck"`
	StopGracePeriod string `json:"stop_grace_period"`
	Restart         string `json:"restart"`
}

// defaulted replaces ${VAR:-default} with its default, as a compose client
// does with the variable unset.
func defaulted(s string) string {
	return regexp.MustCompile(`\$\{[A-Z_]+:-([^}]*)\}`).ReplaceAllString(s, "$1")
}

// TestComposeFileContent checks docker-compose.yml where no compose client
// runs: the services, their wiring, the health check the service waits
// for, and that every CATERING_* variable is a flag of the binary.
func TestComposeFileContent(t *testing.T) {
	raw, err := os.ReadFile("../docker-compose.yml")
	require.NoError(t, err)
	var f composeFile
	require.NoError(t, yaml.UnmarshalStrict(raw, &f), "docker-compose.yml")
	require.Len(t, f.Services, 2)
	kafka, svc := f.Services["kafka"], f.Services["catering-match"]

	require.Equal(t, kafkaImage, defaulted(kafka.Image), "the compose broker is the suite's image")
	require.NotNil(t, kafka.Healthcheck, "kafka needs a health check: the service waits for it")
	require.NotEmpty(t, kafka.Healthcheck.Test)
	require.Contains(t, strings.Join(kafka.Healthcheck.Test, " "), "/opt/kafka/bin/kafka-broker-api-versions.sh")
	// The locally built broker image has the script the health check runs.
	_, err = os.Stat("containers/kafka/bin/kafka-broker-api-versions.sh")
	require.NoError(t, err)
	require.Equal(t, "1", kafka.Environment["KAFKA_TRANSACTION_STATE_LOG_MIN_ISR"], "one broker: transactions need min ISR 1")
	require.Contains(t, kafka.Environment["KAFKA_ADVERTISED_LISTENERS"], "PLAINTEXT://kafka:9092")
	hostListener := regexp.MustCompile(`HOST://127\.0\.0\.1:(\S+)`).FindStringSubmatch(defaulted(kafka.Environment["KAFKA_ADVERTISED_LISTENERS"]))
	require.NotNil(t, hostListener, "a listener advertised to the host")
	require.Contains(t, defaulted(strings.Join(kafka.Ports, " ")), "127.0.0.1:"+hostListener[1]+":19092", "the host listener is published on loopback")

	require.Equal(t, "service_healthy", svc.DependsOn["kafka"].Condition)
	require.Equal(t, "kafka:9092", svc.Environment["CATERING_BROKERS"], "the service uses the in-network listener")
	require.NotEmpty(t, svc.Environment["CATERING_INSTANCE_ID"])
	require.Equal(t, ":8080", svc.Environment["CATERING_HTTP_ADDR"], "ops listens on the container's interfaces")
	require.Contains(t, defaulted(strings.Join(svc.Ports, " ")), "127.0.0.1:8080:8080")
	grace, err := time.ParseDuration(svc.StopGracePeriod)
	require.NoError(t, err, "stop_grace_period")
	require.GreaterOrEqual(t, grace, 30*time.Second, "longer than the shutdown path (the open transaction, then leaving the group)")

	// The build arguments are the Dockerfile's.
	require.NotNil(t, svc.Build)
	dockerfile, err := os.ReadFile("../Dockerfile")
	require.NoError(t, err)
	for arg := range svc.Build.Args {
		require.Regexp(t, `(?m)^ARG `+arg+`=`, string(dockerfile), "build arg %s", arg)
	}

	flags := binaryFlags(t)
	for name := range svc.Environment {
		require.True(t, strings.HasPrefix(name, "CATERING_"), "%s: the service is configured by CATERING_* variables", name)
		flag := strings.ReplaceAll(strings.ToLower(strings.TrimPrefix(name, "CATERING_")), "_", "-")
		require.Contains(t, flags, flag, "%s is no flag of catering-match", name)
	}
}

// binaryFlags are the flag names catering-match -help lists.
func binaryFlags(t *testing.T) map[string]bool {
	t.Helper()
	out, _ := exec.Command(filepath.Join(bins, "catering-match"), "-help").CombinedOutput()
	flags := map[string]bool{}
	sc := bufio.NewScanner(strings.NewReader(string(out)))
	re := regexp.MustCompile(`^\s+-([a-z][a-z0-9-]*)`)
	for sc.Scan() {
		if m := re.FindStringSubmatch(sc.Text()); m != nil {
			flags[m[1]] = true
		}
	}
	require.Contains(t, flags, "brokers", "catering-match -help: %s", out)
	return flags
}

// TestComposeWalkthrough runs docker-compose.yml with the compose client
// CATERING_COMPOSE names (podman-compose here; "docker compose" on a
// Docker host), the service image CATERING_IMAGE and Kafka 4.1.1 in
// containers, publishes a match from the host and reads one ConfirmOrder.
func TestComposeWalkthrough(t *testing.T) {
	client := strings.Fields(os.Getenv("CATERING_COMPOSE"))
	if len(client) == 0 {
		t.Skip("CATERING_COMPOSE is not set: `make test-containers` runs this test with podman-compose")
	}
	image := imageUnderTest(t)
	const kafkaPort, httpPort = "19097", "18097"
	project := fmt.Sprintf("catering-it-%d", time.Now().UnixNano()%1e6)
	compose := func(args ...string) (string, error) {
		all := append(append(append([]string{}, client[1:]...), "-p", project, "-f", "../docker-compose.yml"), args...)
		cmd := exec.Command(client[0], all...)
		cmd.Env = append(os.Environ(), "CATERING_IMAGE="+image, "KAFKA_HOST_PORT="+kafkaPort, "CATERING_HTTP_PORT="+httpPort)
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	t.Cleanup(func() {
		if t.Failed() {
			out, _ := compose("logs")
			t.Logf("--- compose logs:\n%s", tail(out, 80))
		}
		if out, err := compose("down", "-v"); err != nil {
			t.Errorf("compose down: %v\n%s", err, tail(out, 20))
		}
	})
	out, err := compose("up", "-d", "--no-build")
	require.NoError(t, err, "compose up:\n%s", tail(out, 30))

	deadline := time.Now().Add(4 * time.Minute)
	for {
		resp, err := http.Get("http://127.0.0.1:" + httpPort + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
		}
		require.True(t, time.Now().Before(deadline), "the compose service is not ready on :%s after 4 minutes (last: %v)", httpPort, err)
		time.Sleep(500 * time.Millisecond)
	}

	broker := "127.0.0.1:" + kafkaPort
	names := topics.DefaultNames()
	cl, err := kgo.NewClient(kgo.SeedBrokers(broker))
	require.NoError(t, err)
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for _, e := range []genEvent{
		{ID: "compose-c", Type: "CustomerConfirmedMenu", Order: "compose-1", Menu: "m"},
		{ID: "compose-k", Type: "CatererConfirmedMenu", Order: "compose-1", Menu: "m"},
	} {
		in := e.record()
		require.NoError(t, cl.ProduceSync(ctx, &kgo.Record{Topic: names.Events, Key: in.key, Value: in.value}).FirstErr())
	}
	var cmds []*kgo.Record
	require.Eventually(t, func() bool { cmds = readAt(t, broker, names.Commands); return len(cmds) > 0 }, 2*time.Minute, 500*time.Millisecond)
	require.Len(t, cmds, 1, "one ConfirmOrder")
	require.Contains(t, string(cmds[0].Value), `"causation_id":"compose-k"`)
	t.Logf("compose (%s): one ConfirmOrder for compose-1", strings.Join(client, " "))
}
