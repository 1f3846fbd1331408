package kubernetes

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"
	k8syaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/yaml"

	"github.com/catering-match/catering-match/internal/catering"
	"github.com/catering-match/catering-match/internal/cli"
	"github.com/catering-match/catering-match/internal/ops"
	"github.com/catering-match/catering-match/processor"
)

const (
	containerName = "catering-match"
	httpAddrEnv   = cli.EnvPrefix + "_HTTP_ADDR"
	instanceIDEnv = cli.EnvPrefix + "_INSTANCE_ID"
	brokersEnv    = cli.EnvPrefix + "_BROKERS"
)

// binaryPath is the catering-match binary TestMain builds, for its --help
// and for running it with the manifests' environment.
var binaryPath string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "catering-match-k8s-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binaryPath = filepath.Join(dir, "catering-match")
	build := exec.Command("go", "build", "-o", binaryPath, "github.com/catering-match/catering-match/cmd/catering-match")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintf(os.Stderr, "build cmd/catering-match: %v\n", err)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// kustomization is the part of kustomize's file these manifests use;
// decoding it strictly rejects anything else.
type kustomization struct {
	APIVersion string   `json:"apiVersion"`
	Kind       string   `json:"kind"`
	Namespace  string   `json:"namespace,omitempty"`
	Resources  []string `json:"resources"`
	Images     []struct {
		Name    string `json:"name"`
		NewName string `json:"newName,omitempty"`
		NewTag  string `json:"newTag,omitempty"`
	} `json:"images,omitempty"`
}

// deployment is every manifest of this directory, decoded.
type deployment struct {
	resources   []string // the *.yaml files but kustomization.yaml
	kustomize   kustomization
	statefulSet *appsv1.StatefulSet
	configMap   *corev1.ConfigMap
	services    []*corev1.Service
	pdb         *policyv1.PodDisruptionBudget
}

// load decodes every document of every *.yaml file here into its
// Kubernetes API type, rejecting unknown and duplicate fields.
func load(t *testing.T) *deployment {
	t.Helper()
	files, err := filepath.Glob("*.yaml")
	if err != nil {
		t.Fatal(err)
	}
	d := &deployment{}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if f == "kustomization.yaml" {
			if err := yaml.UnmarshalStrict(data, &d.kustomize); err != nil {
				t.Fatalf("%s: %v", f, err)
			}
			continue
		}
		d.resources = append(d.resources, f)
		r := k8syaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(data)))
		for n := 1; ; n++ {
			doc, err := r.Read()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatalf("%s: document %d: %v", f, n, err)
			}
			if err := d.add(doc); err != nil {
				t.Fatalf("%s: document %d: %v", f, n, err)
			}
		}
	}
	switch {
	case d.statefulSet == nil:
		t.Fatal("no StatefulSet")
	case d.configMap == nil:
		t.Fatal("no ConfigMap")
	case d.pdb == nil:
		t.Fatal("no PodDisruptionBudget")
	case len(d.services) == 0:
		t.Fatal("no Service")
	}
	return d
}

func (d *deployment) add(doc []byte) error {
	var tm metav1.TypeMeta
	if err := yaml.Unmarshal(doc, &tm); err != nil {
		return err
	}
	if tm == (metav1.TypeMeta{}) {
		if j, err := yaml.YAMLToJSON(doc); err == nil && string(j) == "null" {
			return nil // only comments
		}
	}
	strict := func(into any) error { return yaml.UnmarshalStrict(doc, into) }
	switch tm.APIVersion + " " + tm.Kind {
	case "apps/v1 StatefulSet":
		if d.statefulSet != nil {
			return errors.New("a second StatefulSet")
		}
		d.statefulSet = &appsv1.StatefulSet{}
		return strict(d.statefulSet)
	case "v1 ConfigMap":
		if d.configMap != nil {
			return errors.New("a second ConfigMap")
		}
		d.configMap = &corev1.ConfigMap{}
		return strict(d.configMap)
	case "v1 Service":
		s := &corev1.Service{}
		d.services = append(d.services, s)
		return strict(s)
	case "policy/v1 PodDisruptionBudget":
		if d.pdb != nil {
			return errors.New("a second PodDisruptionBudget")
		}
		d.pdb = &policyv1.PodDisruptionBudget{}
		return strict(d.pdb)
	case "v1 Secret":
		return errors.New("a Secret: secrets are created with kubectl, not kept here (README.md, Deploy on Kubernetes)")
	}
	return fmt.Errorf("kind %q of apiVersion %q: this test does not check it; add a case", tm.Kind, tm.APIVersion)
}

func (d *deployment) container(t *testing.T) *corev1.Container {
	t.Helper()
	cs := d.statefulSet.Spec.Template.Spec.Containers
	if len(cs) != 1 || cs[0].Name != containerName {
		t.Fatalf("the pod has containers %v; want exactly one, %q", cs, containerName)
	}
	return &cs[0]
}

// envVar is one variable of the container's environment.
type envVar struct {
	value  string // a literal, or the ConfigMap's value
	source string // "value", "configMap", "fieldRef", "secretKeyRef", "resourceFieldRef"
	ref    *corev1.EnvVarSource
}

// env resolves the container's environment as the kubelet does: envFrom
// first, then env, which wins.
func (d *deployment) env(t *testing.T) map[string]envVar {
	t.Helper()
	c := d.container(t)
	out := map[string]envVar{}
	for _, from := range c.EnvFrom {
		if from.ConfigMapRef == nil || from.ConfigMapRef.Name != d.configMap.Name || from.Prefix != "" {
			t.Fatalf("envFrom %+v: this test resolves only the ConfigMap %q, without a prefix", from, d.configMap.Name)
		}
		for k, v := range d.configMap.Data {
			out[k] = envVar{value: v, source: "configMap"}
		}
	}
	for _, e := range c.Env {
		switch vf := e.ValueFrom; {
		case vf == nil:
			if strings.Contains(e.Value, "$(") {
				t.Fatalf("env %s=%q: this test does not expand $(VAR) references", e.Name, e.Value)
			}
			out[e.Name] = envVar{value: e.Value, source: "value"}
		case vf.ConfigMapKeyRef != nil:
			ref := vf.ConfigMapKeyRef
			v, ok := d.configMap.Data[ref.Key]
			if ref.Name != d.configMap.Name || !ok {
				t.Fatalf("env %s: configMapKeyRef %s/%s is not in ConfigMap %q", e.Name, ref.Name, ref.Key, d.configMap.Name)
			}
			out[e.Name] = envVar{value: v, source: "configMap", ref: vf}
		case vf.FieldRef != nil:
			out[e.Name] = envVar{source: "fieldRef", ref: vf}
		case vf.SecretKeyRef != nil:
			out[e.Name] = envVar{source: "secretKeyRef", ref: vf}
		case vf.ResourceFieldRef != nil:
			out[e.Name] = envVar{source: "resourceFieldRef", ref: vf}
		default:
			t.Fatalf("env %s: unknown valueFrom %+v", e.Name, vf)
		}
	}
	return out
}

// httpPort is the container port named "http", the ops endpoints' port.
func (d *deployment) httpPort(t *testing.T) int32 {
	t.Helper()
	for _, p := range d.container(t).Ports {
		if p.Name == "http" {
			return p.ContainerPort
		}
	}
	t.Fatal(`the container has no port named "http"`)
	return 0
}

// resolvePort is the container port a probe or a Service targets.
func (d *deployment) resolvePort(t *testing.T, p intstr.IntOrString) int32 {
	t.Helper()
	if p.Type == intstr.Int {
		return p.IntVal
	}
	for _, cp := range d.container(t).Ports {
		if cp.Name == p.StrVal {
			return cp.ContainerPort
		}
	}
	t.Fatalf("port %q is not a container port", p.StrVal)
	return 0
}

func TestEveryManifestIsInTheKustomization(t *testing.T) {
	d := load(t)
	if d.kustomize.APIVersion != "kustomize.config.k8s.io/v1beta1" || d.kustomize.Kind != "Kustomization" {
		t.Errorf("kustomization.yaml is %s %s; want kustomize.config.k8s.io/v1beta1 Kustomization", d.kustomize.APIVersion, d.kustomize.Kind)
	}
	got, want := slices.Sorted(slices.Values(d.kustomize.Resources)), d.resources
	if !slices.Equal(got, want) {
		t.Errorf("kustomization.yaml lists %v; the manifests are %v", got, want)
	}
	image := d.container(t).Image
	found := false
	for _, im := range d.kustomize.Images {
		found = found || strings.HasPrefix(image, im.Name+":") || image == im.Name
	}
	if !found {
		t.Errorf("image %q has no images: entry in kustomization.yaml, so it cannot be retargeted there", image)
	}
}

// fakeSource is what ops.Handler asks; ready says what the processor would.
type fakeSource struct{ ready bool }

func (f fakeSource) Ready() bool { return f.ready }

func (fakeSource) Held() []int32 { return nil }

func (fakeSource) Order(context.Context, string) (catering.ProcessView, bool, error) {
	return catering.ProcessView{}, false, nil
}

func (fakeSource) Orders(context.Context, catering.Filter) ([]catering.ProcessView, error) {
	return nil, nil
}

// get asks the real ops handler for path.
func get(t *testing.T, ready bool, path string) *httptest.ResponseRecorder {
	t.Helper()
	reg := prometheus.NewRegistry()
	reg.MustRegister(prometheus.NewCounter(prometheus.CounterOpts{Name: "probe_test_total", Help: "a metric to gather"}))
	h := ops.Handler(fakeSource{ready: ready}, reg, slog.New(slog.DiscardHandler))
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
	return rec
}

func probePath(t *testing.T, name string, p *corev1.Probe) string {
	t.Helper()
	if p == nil || p.HTTPGet == nil {
		t.Fatalf("%s probe: want an httpGet probe", name)
	}
	if s := p.HTTPGet.Scheme; s != "" && s != corev1.URISchemeHTTP {
		t.Errorf("%s probe: scheme %s; the ops endpoints serve plain HTTP", name, s)
	}
	return p.HTTPGet.Path
}

// TestProbesAskTheOpsEndpoints sends each probe's request to the real
// operations handler: readiness follows the processor's readiness, liveness
// and the metrics path answer whatever the group does.
func TestProbesAskTheOpsEndpoints(t *testing.T) {
	d := load(t)
	c := d.container(t)

	ready := probePath(t, "readiness", c.ReadinessProbe)
	if code := get(t, false, ready).Code; code != http.StatusServiceUnavailable {
		t.Errorf("readiness probe %s answers %d while joining or restoring; want 503", ready, code)
	}
	if code := get(t, true, ready).Code; code != http.StatusOK {
		t.Errorf("readiness probe %s answers %d once ready; want 200", ready, code)
	}

	// A liveness failure restarts the pod: it must not fail during a restore.
	live := probePath(t, "liveness", c.LivenessProbe)
	if code := get(t, false, live).Code; code != http.StatusOK {
		t.Errorf("liveness probe %s answers %d while restoring; want 200 (a restart would start the restore over)", live, code)
	}

	// The startup budget is sized for a restore (TestStartupProbeCoversARestore):
	// the probe must wait for it, as readiness does.
	start := probePath(t, "startup", c.StartupProbe)
	if code := get(t, false, start).Code; code != http.StatusServiceUnavailable {
		t.Errorf("startup probe %s answers %d while joining or restoring; want 503, so that the startup budget covers the first restore", start, code)
	}
	if code := get(t, true, start).Code; code != http.StatusOK {
		t.Errorf("startup probe %s answers %d once ready; want 200", start, code)
	}

	for _, s := range d.services {
		a := s.Annotations
		if a["prometheus.io/scrape"] != "true" {
			continue
		}
		rec := get(t, false, a["prometheus.io/path"])
		if rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), "probe_test_total") {
			t.Errorf("Service %s: prometheus.io/path %q answers %d without the metrics", s.Name, a["prometheus.io/path"], rec.Code)
		}
	}
}

// TestStartupProbeCoversARestore checks the startup budget: the connection
// check, a join up to the rebalance timeout, the wait for open transactions
// on the changelog, and minutes of restore.
func TestStartupProbeCoversARestore(t *testing.T) {
	d := load(t)
	c := d.container(t)
	budget := func(p *corev1.Probe) time.Duration {
		return time.Duration(p.PeriodSeconds*p.FailureThreshold) * time.Second
	}
	txn := duration(t, d.env(t), "transaction-timeout", processor.DefaultConfig().TransactionTimeout)
	const (
		rebalanceTimeout = 60 * time.Second // franz-go's default RebalanceTimeout
		minRestore       = 5 * time.Minute  // 185M changelog records at the 616k/s of docs/benchmarks.md
	)
	need := cli.DefaultCheckTimeout + rebalanceTimeout + txn + minRestore
	if got := budget(c.StartupProbe); got < need {
		t.Errorf("startup probe allows %v (periodSeconds x failureThreshold); want at least %v: connection check %v, join %v, open transactions %v, restore %v",
			got, need, cli.DefaultCheckTimeout, rebalanceTimeout, txn, minRestore)
	}
	if got := budget(c.LivenessProbe); got < 30*time.Second {
		t.Errorf("liveness probe restarts after %v without an answer; want at least 30s, so that a GC pause or CPU throttling does not restart the pod", got)
	}
}

// TestOpsListenOnThePodNetwork checks that the ops endpoints are reachable
// from outside the pod on the port that the container, the probes, the
// Services and the scrape annotations name.
func TestOpsListenOnThePodNetwork(t *testing.T) {
	d := load(t)
	env := d.env(t)
	port := d.httpPort(t)

	addr, ok := env[httpAddrEnv]
	if !ok || addr.source != "value" {
		t.Fatalf("%s is not set to a value in the container: the binary's default, 127.0.0.1:8080, is unreachable from outside the pod", httpAddrEnv)
	}
	host, p, err := net.SplitHostPort(addr.value)
	if err != nil {
		t.Fatalf("%s=%q: %v", httpAddrEnv, addr.value, err)
	}
	if ip := net.ParseIP(host); host == "localhost" || (ip != nil && ip.IsLoopback()) {
		t.Errorf("%s=%q listens on loopback only: probes, Services and Prometheus cannot reach it", httpAddrEnv, addr.value)
	}
	if p != strconv.Itoa(int(port)) {
		t.Errorf("%s=%q listens on port %s; the container port http is %d", httpAddrEnv, addr.value, p, port)
	}

	c := d.container(t)
	for name, pr := range map[string]*corev1.Probe{"readiness": c.ReadinessProbe, "liveness": c.LivenessProbe, "startup": c.StartupProbe} {
		if pr == nil || pr.HTTPGet == nil {
			t.Errorf("%s probe: want an httpGet probe", name)
			continue
		}
		if got := d.resolvePort(t, pr.HTTPGet.Port); got != port {
			t.Errorf("%s probe targets port %d; the ops endpoints are on %d", name, got, port)
		}
	}
	for _, s := range d.services {
		if len(s.Spec.Ports) == 0 {
			t.Errorf("Service %s has no port", s.Name)
		}
		for _, sp := range s.Spec.Ports {
			tp := sp.TargetPort
			if tp == (intstr.IntOrString{}) {
				tp = intstr.FromInt32(sp.Port) // Kubernetes' default
			}
			if got := d.resolvePort(t, tp); got != port {
				t.Errorf("Service %s port %s targets %d; the ops endpoints are on %d", s.Name, sp.Name, got, port)
			}
		}
		if s.Annotations["prometheus.io/scrape"] == "true" {
			if got := s.Annotations["prometheus.io/port"]; got != strconv.Itoa(int(port)) {
				t.Errorf("Service %s: prometheus.io/port %q; the ops endpoints are on %d", s.Name, got, port)
			}
		}
	}
}

// TestInstanceIDIsThePodName: the StatefulSet's pod name is unique among
// running pods and stable across restarts, as the static member id and the
// transactional id must be.
func TestInstanceIDIsThePodName(t *testing.T) {
	d := load(t)
	env := d.env(t)
	id, ok := env[instanceIDEnv]
	if !ok || id.source != "fieldRef" || id.ref.FieldRef.FieldPath != "metadata.name" {
		t.Fatalf("%s = %+v; want valueFrom.fieldRef.fieldPath metadata.name", instanceIDEnv, id)
	}
	if sm, ok := env[cli.EnvPrefix+"_STATIC_MEMBERSHIP"]; ok && sm.value == "false" {
		t.Errorf("static membership is off: a rolling update's restart would rebalance the group twice")
	}
	cfg := processor.DefaultConfig()
	cfg.Brokers = []string{env[brokersEnv].value}
	if g, ok := env[cli.EnvPrefix+"_GROUP"]; ok {
		cfg.Group = g.value
	}
	// The largest pod name the StatefulSet may make must still be a valid id.
	cfg.InstanceID = d.statefulSet.Name + "-" + strconv.Itoa(int(replicas(d))-1)
	if err := cfg.Validate(); err != nil {
		t.Errorf("pod name %q as the instance id: %v", cfg.InstanceID, err)
	}
}

func replicas(d *deployment) int32 {
	if r := d.statefulSet.Spec.Replicas; r != nil {
		return *r
	}
	return 1
}

func TestReplicasAtMostPartitions(t *testing.T) {
	d := load(t)
	parts := int64(processor.DefaultConfig().Spec.Partitions)
	if v, ok := d.env(t)[cli.EnvPrefix+"_PARTITIONS"]; ok {
		n, err := strconv.ParseInt(v.value, 10, 32)
		if err != nil {
			t.Fatal(err)
		}
		parts = n
	}
	if r := replicas(d); r < 1 || int64(r) > parts {
		t.Errorf("replicas %d: use 1 to %d (the partitions of the events topic); an instance beyond that holds nothing", r, parts)
	}
}

// flags are the binary's flag names, from its --help.
func flags(t *testing.T) map[string]bool {
	t.Helper()
	out, err := exec.Command(binaryPath, "-help").CombinedOutput()
	if err != nil {
		t.Fatalf("catering-match -help: %v\n%s", err, out)
	}
	names := map[string]bool{}
	for _, m := range regexp.MustCompile(`(?m)^  -([a-z][a-z0-9-]*)`).FindAllSubmatch(out, -1) {
		names[string(m[1])] = true
	}
	if !names["brokers"] || !names["http-addr"] || !names["instance-id"] {
		t.Fatalf("cannot read the flags from catering-match -help:\n%s", out)
	}
	return names
}

func envName(flag string) string {
	return cli.EnvPrefix + "_" + strings.ToUpper(strings.ReplaceAll(flag, "-", "_"))
}

// TestEveryCateringVariableIsAFlag: ff reads CATERING_<FLAG> for the
// binary's flags only, so any other such name is a typo that is silently
// ignored. The one exception is the password variable, which has no flag.
func TestEveryCateringVariableIsAFlag(t *testing.T) {
	d := load(t)
	known := map[string]bool{cli.PasswordEnv: true}
	for f := range flags(t) {
		known[envName(f)] = true
	}
	names := map[string]string{}
	for k := range d.configMap.Data {
		names[k] = "ConfigMap " + d.configMap.Name
	}
	for _, e := range d.container(t).Env {
		names[e.Name] = "the container's env"
	}
	for n, where := range names {
		if strings.HasPrefix(n, cli.EnvPrefix+"_") && !known[n] {
			t.Errorf("%s in %s is no flag of catering-match (see catering-match --help)", n, where)
		}
	}
	for k := range d.configMap.Data {
		if !strings.HasPrefix(k, cli.EnvPrefix+"_") {
			t.Errorf("ConfigMap key %s becomes a variable the binary never reads (envFrom)", k)
		}
	}
	if esl := d.statefulSet.Spec.Template.Spec.EnableServiceLinks; esl == nil || *esl {
		t.Errorf("enableServiceLinks is not false: Service %q would put CATERING_MATCH_* variables in the environment", d.services[0].Name)
	}
}

func TestBrokersAreRequired(t *testing.T) {
	d := load(t)
	var ref *corev1.ConfigMapKeySelector
	for _, e := range d.container(t).Env {
		if e.Name == brokersEnv && e.ValueFrom != nil {
			ref = e.ValueFrom.ConfigMapKeyRef
		}
	}
	if ref == nil || (ref.Optional != nil && *ref.Optional) {
		t.Errorf("%s is not a required configMapKeyRef: without it the binary would start its embedded broker", brokersEnv)
	}
	if strings.TrimSpace(d.configMap.Data[brokersEnv]) == "" {
		t.Errorf("ConfigMap %s has no %s", d.configMap.Name, brokersEnv)
	}
}

// parseBytes reads a GOMEMLIMIT value as the Go runtime does: a byte count
// with an optional B, KiB, MiB, GiB or TiB suffix.
func parseBytes(s string) (int64, error) {
	mult := int64(1)
	for i, suf := range []string{"TiB", "GiB", "MiB", "KiB", "B"} {
		if strings.HasSuffix(s, suf) {
			s = strings.TrimSuffix(s, suf)
			mult = int64(1) << (10 * (4 - i))
			break
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	return n * mult, err
}

// TestGOMEMLIMITBelowMemoryLimit: the runtime must start collecting harder
// before the kernel kills the container, and the limit must follow the
// memory limit when that changes.
func TestGOMEMLIMITBelowMemoryLimit(t *testing.T) {
	d := load(t)
	c := d.container(t)
	for _, r := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
		if c.Resources.Requests.Name(r, "").IsZero() {
			t.Errorf("no %s request", r)
		}
	}
	limit := c.Resources.Limits.Memory()
	if limit.IsZero() {
		t.Fatal("no memory limit")
	}
	v, ok := d.env(t)["GOMEMLIMIT"]
	if !ok || v.source != "value" {
		t.Fatalf("GOMEMLIMIT = %+v; want a literal byte count below the memory limit", v)
	}
	n, err := parseBytes(v.value)
	if err != nil {
		t.Fatalf("GOMEMLIMIT=%q: %v", v.value, err)
	}
	if lim := limit.Value(); n >= lim || float64(n) < 0.8*float64(lim) {
		t.Errorf("GOMEMLIMIT=%d is %.0f%% of the memory limit %s (%d bytes); want 80-99%%", n, 100*float64(n)/float64(lim), limit, lim)
	}
}

// timeoutIn returns the first context.WithTimeout(..., N*time.Second) in
// function fn of the module's file, so that the shutdown need follows the
// code.
func timeoutIn(t *testing.T, file, fn string) time.Duration {
	t.Helper()
	f, err := parser.ParseFile(token.NewFileSet(), filepath.Join("..", "..", file), nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	var got time.Duration
	for _, decl := range f.Decls {
		fd, ok := decl.(*ast.FuncDecl)
		if !ok || fd.Name.Name != fn {
			continue
		}
		ast.Inspect(fd, func(n ast.Node) bool {
			call, ok := n.(*ast.CallExpr)
			if !ok || got != 0 || len(call.Args) != 2 {
				return got == 0
			}
			if sel, ok := call.Fun.(*ast.SelectorExpr); !ok || sel.Sel.Name != "WithTimeout" {
				return true
			}
			if b, ok := call.Args[1].(*ast.BinaryExpr); ok && b.Op == token.MUL {
				lit, ok1 := b.X.(*ast.BasicLit)
				unit, ok2 := b.Y.(*ast.SelectorExpr)
				if ok1 && ok2 && lit.Kind == token.INT && unit.Sel.Name == "Second" {
					n, _ := strconv.Atoi(lit.Value)
					got = time.Duration(n) * time.Second
				}
			}
			return got == 0
		})
	}
	if got == 0 {
		t.Fatalf("%s: no context.WithTimeout(ctx, N*time.Second) in %s; update this test's shutdown arithmetic", file, fn)
	}
	return got
}

func duration(t *testing.T, env map[string]envVar, flag string, def time.Duration) time.Duration {
	t.Helper()
	v, ok := env[envName(flag)]
	if !ok {
		return def
	}
	d, err := time.ParseDuration(v.value)
	if err != nil {
		t.Fatalf("%s=%q: %v", envName(flag), v.value, err)
	}
	return d
}

// TestGracePeriodCoversShutdown: SIGKILL must not cut the shutdown path
// short. After SIGTERM, in the worst case, a transaction in flight runs to
// its deadline, then the session aborts, leaves the group and closes, the
// admin client closes, and main stops the HTTP server.
func TestGracePeriodCoversShutdown(t *testing.T) {
	d := load(t)
	env := d.env(t)
	txn := duration(t, env, "transaction-timeout", processor.DefaultConfig().TransactionTimeout)
	const (
		// franz-go v1.22 Client.Close: a LeaveGroup, when one is sent, is
		// retried for up to 30 s (RetryTimeout for other requests) plus one
		// request's 10 s (RequestTimeoutOverhead); then up to 1 s to end
		// the fetch sessions and 1 s for the last client-metrics push.
		leaveGroup  = 40 * time.Second
		clientClose = 2 * time.Second
	)
	abort := timeoutIn(t, "processor/processor.go", "shutdown")
	httpStop := timeoutIn(t, "cmd/catering-match/main.go", "serveOps")
	need := txn + abort + leaveGroup + 2*clientClose + httpStop

	if grace := gracePeriod(d); grace <= need {
		t.Errorf("terminationGracePeriodSeconds is %v; want more than %v: transaction in flight %v + abort %v + leave group %v + close two clients %v + HTTP %v",
			grace, need, txn, abort, leaveGroup, 2*clientClose, httpStop)
	}
}

// gracePeriod is how long the kubelet waits after SIGTERM before SIGKILL.
func gracePeriod(d *deployment) time.Duration {
	if g := d.statefulSet.Spec.Template.Spec.TerminationGracePeriodSeconds; g != nil {
		return time.Duration(*g) * time.Second
	}
	return 30 * time.Second // Kubernetes' default
}

// secretName and secretValue are what a secret's name or value looks like.
var (
	secretName  = regexp.MustCompile(`(?i)pass|secret|token|credential|key`)
	secretValue = regexp.MustCompile(`(?i)(password|secret|token)\s*[=:]`)
)

// TestNoSecretInTheConfigMap: the ConfigMap only names files; the password
// comes from a Secret, as a mounted file or a secretKeyRef.
func TestNoSecretInTheConfigMap(t *testing.T) {
	d := load(t)
	if len(d.configMap.BinaryData) > 0 {
		t.Errorf("ConfigMap %s has binaryData; keep keys and certificates in Secrets", d.configMap.Name)
	}
	for k, v := range d.configMap.Data {
		if strings.Contains(v, "-----BEGIN") || secretValue.MatchString(v) {
			t.Errorf("ConfigMap %s: %s holds what looks like a secret", d.configMap.Name, k)
		}
		if secretName.MatchString(k) && !strings.HasSuffix(k, "_FILE") {
			t.Errorf("ConfigMap %s: %s looks like a secret; give it from a Secret (secretKeyRef) or name a file mounted from one (%s_FILE)", d.configMap.Name, k, k)
		}
	}
	c := d.container(t)
	for _, e := range c.Env {
		if secretName.MatchString(e.Name) && !strings.HasSuffix(e.Name, "_FILE") && (e.ValueFrom == nil || e.ValueFrom.SecretKeyRef == nil) {
			t.Errorf("env %s looks like a secret but does not come from a secretKeyRef", e.Name)
		}
	}
	env := d.env(t)
	if p, ok := env[cli.PasswordEnv]; ok && p.source != "secretKeyRef" {
		t.Errorf("%s comes from %s; it must come from a secretKeyRef", cli.PasswordEnv, p.source)
	}
	if p, ok := env[envName("sasl-password-file")]; ok {
		if src := mountedFile(t, d, p.value); src.Secret == nil {
			t.Errorf("%s=%s is not mounted from a Secret", envName("sasl-password-file"), p.value)
		}
	}
	for _, f := range []string{"tls-ca-file", "tls-cert-file", "tls-key-file"} {
		if p, ok := env[envName(f)]; ok {
			src := mountedFile(t, d, p.value)
			if f == "tls-key-file" && src.Secret == nil {
				t.Errorf("%s=%s is not mounted from a Secret", envName(f), p.value)
			}
		}
	}
}

// mountedFile returns the volume that provides path in the container, and
// fails unless that volume holds the file.
func mountedFile(t *testing.T, d *deployment, path string) corev1.VolumeSource {
	t.Helper()
	c := d.container(t)
	for _, m := range c.VolumeMounts {
		rel, err := filepath.Rel(m.MountPath, path)
		if err != nil || strings.HasPrefix(rel, "..") || rel == "." {
			continue
		}
		for _, v := range d.statefulSet.Spec.Template.Spec.Volumes {
			if v.Name != m.Name {
				continue
			}
			var items []corev1.KeyToPath
			switch {
			case v.Secret != nil:
				items = v.Secret.Items
			case v.ConfigMap != nil:
				items = v.ConfigMap.Items
			default:
				t.Fatalf("%s is on volume %s, neither a Secret nor a ConfigMap", path, v.Name)
			}
			if len(items) > 0 && !slices.ContainsFunc(items, func(k corev1.KeyToPath) bool { return k.Path == rel }) {
				t.Errorf("%s: volume %s has no item with path %s", path, v.Name, rel)
			}
			return v.VolumeSource
		}
		t.Fatalf("volume mount %s names no volume", m.Name)
	}
	t.Fatalf("%s is under no volume mount of the container", path)
	return corev1.VolumeSource{}
}

// TestSelectorsMatchThePods: the StatefulSet, the PodDisruptionBudget and
// the Services all select the StatefulSet's pods, and the StatefulSet's
// governing Service is headless.
func TestSelectorsMatchThePods(t *testing.T) {
	d := load(t)
	pod := labels.Set(d.statefulSet.Spec.Template.Labels)
	matches := func(what string, sel *metav1.LabelSelector) {
		t.Helper()
		s, err := metav1.LabelSelectorAsSelector(sel)
		switch {
		case err != nil:
			t.Errorf("%s: %v", what, err)
		case sel == nil || s.Empty():
			t.Errorf("%s selects every pod of the namespace", what)
		case !s.Matches(pod):
			t.Errorf("%s %v does not select the pod labels %v", what, s, pod)
		}
	}
	matches("StatefulSet selector", d.statefulSet.Spec.Selector)
	matches("PodDisruptionBudget selector", d.pdb.Spec.Selector)
	if d.pdb.Spec.MaxUnavailable == nil && d.pdb.Spec.MinAvailable == nil {
		t.Error("the PodDisruptionBudget sets neither maxUnavailable nor minAvailable")
	}
	var governing *corev1.Service
	for _, s := range d.services {
		matches("Service "+s.Name, &metav1.LabelSelector{MatchLabels: s.Spec.Selector})
		if s.Name == d.statefulSet.Spec.ServiceName {
			governing = s
		}
	}
	if governing == nil {
		t.Fatalf("no Service %q, the StatefulSet's serviceName", d.statefulSet.Spec.ServiceName)
	}
	if governing.Spec.ClusterIP != corev1.ClusterIPNone {
		t.Errorf("Service %s governs the StatefulSet but is not headless (clusterIP: None)", governing.Name)
	}
}

// podEnv is the environment the kubelet would give the container of pod
// catering-match-0, as name=value pairs for os/exec.
func podEnv(t *testing.T, d *deployment, withConfigMap bool) map[string]string {
	t.Helper()
	out := map[string]string{}
	for name, v := range d.env(t) {
		switch {
		case v.source == "configMap" && !withConfigMap:
		case v.source == "value" || v.source == "configMap":
			out[name] = v.value
		case v.source == "fieldRef" && v.ref.FieldRef.FieldPath == "metadata.name":
			out[name] = d.statefulSet.Name + "-0"
		default:
			t.Fatalf("env %s: this test cannot resolve %s", name, v.source)
		}
	}
	return out
}

func environ(env map[string]string) []string {
	out := []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME")}
	for k, v := range env {
		out = append(out, k+"="+v)
	}
	return out
}

// TestBinaryAcceptsThePodConfiguration runs the binary with the whole pod
// environment (the ConfigMap included; the mounted files made locally): it
// must get past its flag and configuration checks (which exit 2) to the
// connection check, where SIGTERM ends it with 0.
func TestBinaryAcceptsThePodConfiguration(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the binary")
	}
	d := load(t)
	env := podEnv(t, d, true)
	dir := t.TempDir()
	for name, content := range map[string][]byte{
		envName("sasl-password-file"): []byte("not-the-password\n"),
		envName("tls-ca-file"):        selfSignedPEM(t),
	} {
		if _, ok := env[name]; ok {
			f := filepath.Join(dir, name)
			if err := os.WriteFile(f, content, 0o600); err != nil {
				t.Fatal(err)
			}
			env[name] = f
		}
	}
	for name := range env {
		if strings.HasSuffix(name, "_FILE") && !strings.HasPrefix(env[name], dir) {
			t.Fatalf("%s: this test does not make that file; add it", name)
		}
	}
	var stderr bytes.Buffer
	cmd := exec.Command(binaryPath)
	cmd.Env, cmd.Stderr = environ(env), &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	var err error
	select {
	case err = <-done:
	case <-time.After(2 * time.Second): // past parse; waiting for the brokers
		_ = cmd.Process.Signal(syscall.SIGTERM)
		err = <-done
	}
	// Exit 1 is a failed connection check, after the configuration passed.
	var exit *exec.ExitError
	if err != nil && !(errors.As(err, &exit) && exit.ExitCode() == 1 && strings.Contains(stderr.String(), "cannot connect to Kafka")) {
		t.Fatalf("catering-match with the pod's environment: %v\n%s", err, stderr.String())
	}
	t.Logf("exit %v; stderr: %s", err, stderr.String())
}

func selfSignedPEM(t *testing.T) []byte {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// TestBinaryServesTheProbes runs the binary with the pod's own variables
// (not the ConfigMap: on its embedded broker), the ops address on a free
// port but with the manifest's host: the probes answer on loopback and, if
// this machine has one, on a non-loopback address, and SIGTERM stops it well
// within the grace period.
func TestBinaryServesTheProbes(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the binary")
	}
	d := load(t)
	env := podEnv(t, d, false)
	host, _, err := net.SplitHostPort(env[httpAddrEnv])
	if err != nil {
		t.Fatal(err)
	}
	port := strconv.Itoa(freePort(t))
	env[httpAddrEnv] = net.JoinHostPort(host, port)
	env[envName("embedded-port")] = strconv.Itoa(freePort(t))
	env[envName("data-dir")] = t.TempDir()

	var stderr bytes.Buffer
	cmd := exec.Command(binaryPath)
	cmd.Env, cmd.Stderr = environ(env), &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
			<-done
		}
	})

	c := d.container(t)
	status := func(ip, path string) int {
		cl := http.Client{Timeout: 2 * time.Second}
		resp, err := cl.Get("http://" + net.JoinHostPort(ip, port) + path)
		if err != nil {
			return 0
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	deadline := time.Now().Add(90 * time.Second)
	for status("127.0.0.1", c.ReadinessProbe.HTTPGet.Path) != http.StatusOK {
		select {
		case err := <-done:
			t.Fatalf("catering-match exited (%v) before it was ready:\n%s", err, stderr.String())
		case <-time.After(200 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("readiness probe %s not 200 after 90s:\n%s", c.ReadinessProbe.HTTPGet.Path, stderr.String())
		}
	}
	ips := []string{"127.0.0.1"}
	if ip := nonLoopbackIP(); ip != "" {
		ips = append(ips, ip)
	} else {
		t.Log("no non-loopback address here; probing on loopback only")
	}
	for _, ip := range ips {
		for _, path := range []string{c.LivenessProbe.HTTPGet.Path, c.StartupProbe.HTTPGet.Path, c.ReadinessProbe.HTTPGet.Path} {
			if code := status(ip, path); code != http.StatusOK {
				t.Errorf("GET %s on %s: %d; want 200", path, ip, code)
			}
		}
	}

	grace := gracePeriod(d)
	start := time.Now()
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("after SIGTERM: %v\n%s", err, stderr.String())
		}
		t.Logf("stopped %v after SIGTERM", time.Since(start).Round(time.Millisecond))
	case <-time.After(grace):
		t.Errorf("still running %v after SIGTERM, the grace period", grace)
	}
}

func nonLoopbackIP() string {
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return ""
	}
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok && n.IP.To4() != nil && !n.IP.IsLoopback() && !n.IP.IsLinkLocalUnicast() {
			return n.IP.String()
		}
	}
	return ""
}
