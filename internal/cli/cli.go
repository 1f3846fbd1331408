// Package cli holds what the two binaries share on their command lines:
// the Kafka connection flags and the logger.
package cli

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/sasl/plain"
	"github.com/twmb/franz-go/pkg/sasl/scram"
)

// EnvPrefix is the prefix of every flag's environment variable:
// --brokers is CATERING_BROKERS, --log-level CATERING_LOG_LEVEL.
const EnvPrefix = "CATERING"

// PasswordEnv is the environment variable holding the SASL password. There
// is deliberately no --sasl-password flag: a flag's value shows in ps and
// shell history.
const PasswordEnv = EnvPrefix + "_SASL_PASSWORD"

// SASL mechanisms, as --sasl-mechanism accepts them (case-insensitive).
const (
	MechanismNone        = "none"
	MechanismPlain       = "PLAIN"
	MechanismScramSHA256 = "SCRAM-SHA-256"
	MechanismScramSHA512 = "SCRAM-SHA-512"
)

// DefaultCheckTimeout bounds Check when its context has no earlier deadline.
const DefaultCheckTimeout = 10 * time.Second

// Conn are the flags that say how to reach Kafka: brokers, TLS and SASL.
//
// The SASL password is never a field set by a flag: it is read, when
// SecurityOpts runs, from --sasl-password-file or from $CATERING_SASL_PASSWORD.
// String and LogValue never show it.
type Conn struct {
	Brokers string

	TLS                   bool   // implied by every other TLS field
	TLSCAFile             string // PEM CA bundle; empty: the system pool
	TLSCertFile           string // PEM client certificate (mutual TLS), with TLSKeyFile
	TLSKeyFile            string // PEM client key, with TLSCertFile
	TLSServerName         string // expected name in the broker certificate; empty: the broker's host
	TLSInsecureSkipVerify bool   // do not verify the broker certificate (testing only)

	SASLMechanism    string // none, PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512 (any case)
	SASLUser         string
	SASLPasswordFile string

	// Getenv reads the password variable; nil means os.Getenv. Tests set it.
	Getenv func(string) string
}

// Register adds the connection flags to fs. defaultBrokers is shown in
// --help and used when the flag and its variable are unset.
func (c *Conn) Register(fs *flag.FlagSet, defaultBrokers, usage string) {
	fs.StringVar(&c.Brokers, "brokers", defaultBrokers, usage)
	fs.BoolVar(&c.TLS, "tls", false, "connect to the brokers over TLS (implied by any other --tls-* flag)")
	fs.StringVar(&c.TLSCAFile, "tls-ca-file", "", "PEM `file` of the CA(s) that signed the broker certificates; default: the system's trusted CAs")
	fs.StringVar(&c.TLSCertFile, "tls-cert-file", "", "PEM client certificate `file` for mutual TLS (needs --tls-key-file)")
	fs.StringVar(&c.TLSKeyFile, "tls-key-file", "", "PEM client private key `file` for mutual TLS (needs --tls-cert-file)")
	fs.StringVar(&c.TLSServerName, "tls-server-name", "", "`name` the broker certificates must be valid for; default: each broker's host")
	fs.BoolVar(&c.TLSInsecureSkipVerify, "tls-insecure-skip-verify", false,
		"INSECURE, testing only: do not verify the broker certificates (anyone on the network path can impersonate the broker and read the SASL password)")
	fs.StringVar(&c.SASLMechanism, "sasl-mechanism", MechanismNone, "SASL `mechanism`: none, PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512 (PLAIN sends the password as is: use it with --tls)")
	fs.StringVar(&c.SASLUser, "sasl-user", "", "SASL `user` name (needs --sasl-mechanism)")
	fs.StringVar(&c.SASLPasswordFile, "sasl-password-file", "",
		"`file` holding the SASL password (a trailing newline is ignored); or set "+PasswordEnv+" (there is no password flag)")
}

// Seeds returns the brokers as a list, or an error naming a bad entry.
func (c *Conn) Seeds() ([]string, error) {
	var out []string
	for _, b := range strings.Split(c.Brokers, ",") {
		b = strings.TrimSpace(b)
		if b == "" {
			continue
		}
		if !strings.Contains(b, ":") {
			return nil, fmt.Errorf("--brokers %q: broker %q has no port: use host:port, e.g. 127.0.0.1:9092", c.Brokers, b)
		}
		out = append(out, b)
	}
	return out, nil
}

// Opts returns the franz-go options every client of these brokers needs.
func (c *Conn) Opts() ([]kgo.Opt, error) {
	seeds, err := c.Seeds()
	if err != nil {
		return nil, err
	}
	if len(seeds) == 0 {
		return nil, fmt.Errorf("no brokers: set --brokers or %s_BROKERS to host:port[,host:port]", EnvPrefix)
	}
	sec, err := c.SecurityOpts()
	if err != nil {
		return nil, err
	}
	return append([]kgo.Opt{kgo.SeedBrokers(seeds...)}, sec...), nil
}

// TLSEnabled reports whether the connection uses TLS: --tls or any other
// --tls-* flag.
func (c *Conn) TLSEnabled() bool {
	return c.TLS || c.TLSCAFile != "" || c.TLSCertFile != "" || c.TLSKeyFile != "" ||
		c.TLSServerName != "" || c.TLSInsecureSkipVerify
}

// Mechanism returns the canonical SASL mechanism (MechanismNone when SASL is
// off), or an error naming an unknown one.
func (c *Conn) Mechanism() (string, error) {
	m := strings.TrimSpace(c.SASLMechanism)
	switch strings.ToUpper(m) {
	case "", "NONE":
		return MechanismNone, nil
	case MechanismPlain:
		return MechanismPlain, nil
	case MechanismScramSHA256:
		return MechanismScramSHA256, nil
	case MechanismScramSHA512:
		return MechanismScramSHA512, nil
	}
	return "", fmt.Errorf("--sasl-mechanism %q is unknown: use none, PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512", c.SASLMechanism)
}

// Validate checks the TLS and SASL flags without reading any file, so that
// a binary can reject a bad command line before it starts anything.
// SecurityOpts validates too.
func (c *Conn) Validate() error {
	if _, err := c.validateSASL(); err != nil {
		return err
	}
	return c.validateTLS()
}

func (c *Conn) validateTLS() error {
	switch {
	case c.TLSCertFile != "" && c.TLSKeyFile == "":
		return fmt.Errorf("--tls-cert-file %q needs --tls-key-file: give the client certificate's private key too", c.TLSCertFile)
	case c.TLSKeyFile != "" && c.TLSCertFile == "":
		return fmt.Errorf("--tls-key-file %q needs --tls-cert-file: give the client certificate too", c.TLSKeyFile)
	}
	return nil
}

func (c *Conn) getenv(k string) string {
	if c.Getenv != nil {
		return c.Getenv(k)
	}
	return os.Getenv(k)
}

// validateSASL returns the canonical mechanism once the SASL flags agree.
func (c *Conn) validateSASL() (string, error) {
	mech, err := c.Mechanism()
	if err != nil {
		return "", err
	}
	envSet := c.getenv(PasswordEnv) != ""
	if mech == MechanismNone {
		switch {
		case c.SASLUser != "":
			return "", fmt.Errorf("--sasl-user %q is set but --sasl-mechanism is none: set --sasl-mechanism to PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512, or drop --sasl-user", c.SASLUser)
		case c.SASLPasswordFile != "":
			return "", fmt.Errorf("--sasl-password-file %q is set but --sasl-mechanism is none: set --sasl-mechanism to PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512, or drop --sasl-password-file", c.SASLPasswordFile)
		case envSet:
			return "", fmt.Errorf("%s is set but --sasl-mechanism is none: set --sasl-mechanism and --sasl-user, or unset %s", PasswordEnv, PasswordEnv)
		}
		return mech, nil
	}
	if strings.TrimSpace(c.SASLUser) == "" {
		return "", fmt.Errorf("--sasl-mechanism %s needs a user: set --sasl-user (or %s_SASL_USER)", mech, EnvPrefix)
	}
	switch {
	case c.SASLPasswordFile != "" && envSet:
		return "", fmt.Errorf("the SASL password is given twice, by --sasl-password-file %q and by %s: keep one", c.SASLPasswordFile, PasswordEnv)
	case c.SASLPasswordFile == "" && !envSet:
		return "", fmt.Errorf("--sasl-mechanism %s for user %q needs a password: set %s or --sasl-password-file", mech, c.SASLUser, PasswordEnv)
	}
	return mech, nil
}

// password reads the SASL password from the file or the environment.
func (c *Conn) password() (string, error) {
	if c.SASLPasswordFile == "" {
		return c.getenv(PasswordEnv), nil
	}
	b, err := os.ReadFile(c.SASLPasswordFile)
	if err != nil {
		// The *PathError names the file, never its contents.
		return "", fmt.Errorf("--sasl-password-file: cannot read the password: %w", err)
	}
	p := strings.TrimRight(string(b), "\r\n")
	if p == "" {
		return "", fmt.Errorf("--sasl-password-file %q is empty: write the password into it", c.SASLPasswordFile)
	}
	return p, nil
}

// SecurityOpts returns the TLS and SASL options the flags ask for (none
// for a plaintext, unauthenticated connection). It reads the CA, client
// certificate and password files, and the password variable.
func (c *Conn) SecurityOpts() ([]kgo.Opt, error) {
	mech, err := c.validateSASL()
	if err != nil {
		return nil, err
	}
	var opts []kgo.Opt
	if c.TLSEnabled() {
		cfg, err := c.TLSConfig()
		if err != nil {
			return nil, err
		}
		opts = append(opts, kgo.DialTLSConfig(cfg))
	}
	if mech == MechanismNone {
		return opts, nil
	}
	pass, err := c.password()
	if err != nil {
		return nil, err
	}
	user := strings.TrimSpace(c.SASLUser)
	switch mech {
	case MechanismPlain:
		opts = append(opts, kgo.SASL(plain.Auth{User: user, Pass: pass}.AsMechanism()))
	case MechanismScramSHA256:
		opts = append(opts, kgo.SASL(scram.Auth{User: user, Pass: pass}.AsSha256Mechanism()))
	case MechanismScramSHA512:
		opts = append(opts, kgo.SASL(scram.Auth{User: user, Pass: pass}.AsSha512Mechanism()))
	}
	return opts, nil
}

// TLSConfig returns the client TLS configuration the --tls-* flags ask for:
// TLS 1.2 or later, the CA file's pool (else the system's), the client
// certificate if any, and the server name if set.
func (c *Conn) TLSConfig() (*tls.Config, error) {
	if err := c.validateTLS(); err != nil {
		return nil, err
	}
	cfg := &tls.Config{
		MinVersion:         tls.VersionTLS12,
		ServerName:         c.TLSServerName,
		InsecureSkipVerify: c.TLSInsecureSkipVerify, //nolint:gosec // opt-in flag, documented as testing only
	}
	if c.TLSCAFile != "" {
		pem, err := os.ReadFile(c.TLSCAFile)
		if err != nil {
			return nil, fmt.Errorf("--tls-ca-file: cannot read the CA certificates: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("--tls-ca-file %q holds no PEM certificate: give the CA certificate(s) in PEM (-----BEGIN CERTIFICATE-----)", c.TLSCAFile)
		}
		cfg.RootCAs = pool
	}
	if c.TLSCertFile != "" {
		for _, f := range []struct{ flag, path string }{{"--tls-cert-file", c.TLSCertFile}, {"--tls-key-file", c.TLSKeyFile}} {
			if _, err := os.Stat(f.path); err != nil {
				return nil, fmt.Errorf("%s: %w", f.flag, err)
			}
		}
		pair, err := tls.LoadX509KeyPair(c.TLSCertFile, c.TLSKeyFile)
		if err != nil {
			// crypto/tls's message names what is wrong, never key bytes.
			return nil, fmt.Errorf("--tls-cert-file %q / --tls-key-file %q: not a PEM certificate and its matching private key: %v",
				c.TLSCertFile, c.TLSKeyFile, err)
		}
		cfg.Certificates = []tls.Certificate{pair}
	}
	return cfg, nil
}

// String describes the connection for logs and error messages: brokers,
// TLS, mechanism and user. It never contains the password.
func (c Conn) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "brokers=%s", c.Brokers)
	if c.TLSEnabled() {
		b.WriteString(" tls=on")
		if c.TLSCAFile != "" {
			fmt.Fprintf(&b, " tls-ca-file=%s", c.TLSCAFile)
		}
		if c.TLSCertFile != "" {
			fmt.Fprintf(&b, " tls-cert-file=%s", c.TLSCertFile)
		}
		if c.TLSServerName != "" {
			fmt.Fprintf(&b, " tls-server-name=%s", c.TLSServerName)
		}
		if c.TLSInsecureSkipVerify {
			b.WriteString(" tls-insecure-skip-verify=true")
		}
	} else {
		b.WriteString(" tls=off")
	}
	mech, err := c.Mechanism()
	if err != nil {
		mech = "invalid"
	}
	fmt.Fprintf(&b, " sasl=%s", mech)
	if mech != MechanismNone {
		fmt.Fprintf(&b, " sasl-user=%q", c.SASLUser)
	}
	return b.String()
}

// Describe is String: what to log at start.
func (c *Conn) Describe() string { return c.String() }

// GoString keeps %#v from printing the fields (and so Getenv's closure).
func (c Conn) GoString() string { return "cli.Conn{" + c.String() + "}" }

// LogValue makes slog log the connection as String does, as a group,
// without the password.
func (c Conn) LogValue() slog.Value {
	attrs := []slog.Attr{slog.String("brokers", c.Brokers), slog.Bool("tls", c.TLSEnabled())}
	if c.TLSEnabled() {
		if c.TLSCAFile != "" {
			attrs = append(attrs, slog.String("tls_ca_file", c.TLSCAFile))
		}
		if c.TLSServerName != "" {
			attrs = append(attrs, slog.String("tls_server_name", c.TLSServerName))
		}
		if c.TLSInsecureSkipVerify {
			attrs = append(attrs, slog.Bool("tls_insecure_skip_verify", true))
		}
	}
	mech, err := c.Mechanism()
	if err != nil {
		mech = "invalid"
	}
	attrs = append(attrs, slog.String("sasl", mech))
	if mech != MechanismNone {
		attrs = append(attrs, slog.String("sasl_user", c.SASLUser))
	}
	return slog.GroupValue(attrs...)
}

// Check connects with opts (Opts, or SeedBrokers plus SecurityOpts) and
// asks the cluster for its metadata once, so that a wrong address, TLS
// setting or password stops a binary at start with an error saying what to
// fix, instead of the client retrying in the background. It gives up after
// DefaultCheckTimeout unless ctx ends sooner.
func (c *Conn) Check(ctx context.Context, opts []kgo.Opt) error {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, DefaultCheckTimeout)
		defer cancel()
	}
	h := &checkHook{}
	cl, err := kgo.NewClient(append(append([]kgo.Opt{}, opts...), kgo.WithHooks(h))...)
	if err != nil {
		return fmt.Errorf("kafka client for %s: %w", c.Brokers, err)
	}
	defer cl.Close()
	err = cl.Ping(ctx)
	if err == nil {
		return nil
	}
	return c.explain(err, h.saslFailed())
}

// checkHook notes whether a read failed during SASL: a broker that rejects
// the credentials may answer SASL_AUTHENTICATION_FAILED or just close the
// connection.
type checkHook struct {
	mu   sync.Mutex
	sasl bool
}

func (h *checkHook) OnBrokerRead(_ kgo.BrokerMetadata, key int16, _ int, _, _ time.Duration, err error) {
	if err != nil && (key == int16(kmsg.SASLAuthenticate) || key == int16(kmsg.SASLHandshake)) {
		h.mu.Lock()
		h.sasl = true
		h.mu.Unlock()
	}
}

func (h *checkHook) saslFailed() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.sasl
}

// explain turns a failed connection check into an error saying what to fix.
// It wraps err, which never holds the password.
func (c *Conn) explain(err error, duringSASL bool) error {
	mech, _ := c.Mechanism()
	user := strings.TrimSpace(c.SASLUser)

	if errors.Is(err, kerr.UnsupportedSaslMechanism) {
		return fmt.Errorf("the broker does not accept SASL mechanism %s: set --sasl-mechanism to one it enables: %w", mech, err)
	}
	if mech != MechanismNone && (duringSASL || errors.Is(err, kerr.SaslAuthenticationFailed) ||
		errors.Is(err, kerr.IllegalSaslState) || strings.Contains(err.Error(), "SASL")) {
		if _, firstRead := errors.AsType[*kgo.ErrFirstReadEOF](err); !firstRead || duringSASL {
			return fmt.Errorf("authentication failed for user %q with %s: check %s / --sasl-password-file and --sasl-user: %w",
				user, mech, PasswordEnv, err)
		}
	}

	if e := c.explainTLS(err); e != nil {
		return e
	}

	if fe, ok := errors.AsType[*kgo.ErrFirstReadEOF](err); ok {
		switch {
		case !c.TLSEnabled():
			return fmt.Errorf("brokers %s closed the connection: if they require TLS, set --tls (and --tls-ca-file); if they require SASL, set --sasl-mechanism: %w", c.Brokers, fe)
		case mech == MechanismNone:
			return fmt.Errorf("brokers %s closed the connection: if they require SASL, set --sasl-mechanism and --sasl-user; if they do not use TLS, drop --tls: %w", c.Brokers, fe)
		}
		return fmt.Errorf("brokers %s closed the connection: check --tls and --sasl-mechanism match the listener: %w", c.Brokers, fe)
	}
	if errors.Is(err, syscall.ECONNREFUSED) {
		return fmt.Errorf("cannot connect to brokers %s: connection refused (is the broker up? check --brokers): %w", c.Brokers, err)
	}
	var dnsErr *net.DNSError
	if errors.As(err, &dnsErr) {
		return fmt.Errorf("cannot resolve broker host %q: check --brokers: %w", dnsErr.Name, err)
	}
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		hint := "is the broker up and --brokers right? If the listener uses TLS, set --tls"
		if c.TLSEnabled() {
			hint = "is the broker up and --brokers right? If the listener is plaintext, drop --tls and the --tls-* flags"
		}
		return fmt.Errorf("no answer from brokers %s in time: %s: %w", c.Brokers, hint, err)
	}
	return fmt.Errorf("cannot use brokers %s (%s): %w", c.Brokers, c.String(), err)
}

// explainTLS returns an error for a TLS handshake failure, or nil.
func (c *Conn) explainTLS(err error) error {
	ca := "the system's trusted CAs"
	if c.TLSCAFile != "" {
		ca = fmt.Sprintf("--tls-ca-file %q", c.TLSCAFile)
	}
	if ua, ok := errors.AsType[x509.UnknownAuthorityError](err); ok {
		return fmt.Errorf("TLS: the broker certificate (for %q) is not signed by a CA in %s: set --tls-ca-file to the CA that signed it: certificate verification failed: %w",
			certName(ua.Cert), ca, err)
	}
	if he, ok := errors.AsType[x509.HostnameError](err); ok {
		return fmt.Errorf("TLS: the broker certificate is not valid for server name %q (it is for %s): set --tls-server-name to a name it holds, or use that name in --brokers: %w",
			he.Host, certNames(he.Certificate), err)
	}
	if ci, ok := errors.AsType[x509.CertificateInvalidError](err); ok {
		return fmt.Errorf("TLS: the broker certificate (for %q) is invalid (%s), checked against %s: %w", certName(ci.Cert), ci.Detail, ca, err)
	}
	if cv, ok := errors.AsType[*tls.CertificateVerificationError](err); ok {
		return fmt.Errorf("TLS: broker certificate verification failed (server name %s, CAs: %s): %w", c.serverNameDesc(), ca, cv)
	}
	if _, ok := errors.AsType[tls.RecordHeaderError](err); ok {
		return fmt.Errorf("TLS: brokers %s do not speak TLS on that port: drop --tls and the --tls-* flags, or use the broker's TLS listener: %w", c.Brokers, err)
	}
	if al, ok := errors.AsType[tls.AlertError](err); ok {
		hint := "check the TLS version and, if the broker requires a client certificate, --tls-cert-file/--tls-key-file"
		return fmt.Errorf("TLS: the broker refused the handshake (%s): %s: %w", al.Error(), hint, err)
	}
	return nil
}

func (c *Conn) serverNameDesc() string {
	if c.TLSServerName != "" {
		return fmt.Sprintf("%q", c.TLSServerName)
	}
	return "the host in --brokers"
}

func certName(cert *x509.Certificate) string {
	if cert == nil {
		return ""
	}
	if cert.Subject.CommonName != "" {
		return cert.Subject.CommonName
	}
	return cert.Subject.String()
}

func certNames(cert *x509.Certificate) string {
	if cert == nil {
		return "unknown names"
	}
	var names []string
	names = append(names, cert.DNSNames...)
	for _, ip := range cert.IPAddresses {
		names = append(names, ip.String())
	}
	if len(names) == 0 {
		return "no subject alternative names"
	}
	return strings.Join(names, ", ")
}

// NewLogger returns a logger writing to w at level ("debug", "info",
// "warn", "error") in format ("text" or "json").
func NewLogger(w io.Writer, level, format string) (*slog.Logger, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("log level %q: use debug, info, warn or error", level)
	}
	opts := &slog.HandlerOptions{Level: l}
	switch format {
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return nil, fmt.Errorf("log format %q: use text or json", format)
}
