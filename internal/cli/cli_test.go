package cli

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"math/big"
	mrand "math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/peterbourgon/ff/v3"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
)

// secret is the password in every test: no output may contain it.
const secret = "Zq9-very-SECRET-pw"

func env(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

// parseConn registers a Conn on a fresh flag set and parses args as the
// binaries do (ff, CATERING_ variables from the process environment).
func parseConn(t *testing.T, args []string) (*Conn, *flag.FlagSet) {
	t.Helper()
	c := &Conn{}
	fs := flag.NewFlagSet("test", flag.ContinueOnError)
	fs.SetOutput(new(bytes.Buffer))
	c.Register(fs, "127.0.0.1:9092", "brokers")
	require.NoError(t, ff.Parse(fs, args, ff.WithEnvVarPrefix(EnvPrefix)))
	return c, fs
}

func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	require.NoError(t, os.WriteFile(p, []byte(content), 0o600))
	return p
}

func TestSecurityOptsValidation(t *testing.T) {
	pki := newPKI(t)
	dir := t.TempDir()
	caFile := pki.writeCA(t, dir, "ca.pem")
	certFile, keyFile := pki.writeClientPair(t, dir)
	pwFile := writeFile(t, "pw", secret+"\n")
	emptyPw := writeFile(t, "empty", "\n")
	garbage := writeFile(t, "garbage.pem", "not a certificate\n")
	missing := filepath.Join(dir, "missing.pem")

	tests := []struct {
		name    string
		args    []string
		env     map[string]string
		nOpts   int      // options returned when valid
		wantErr []string // substrings of the error; nil: valid
	}{
		{name: "plaintext default", nOpts: 0},
		{name: "tls only", args: []string{"--tls"}, nOpts: 1},
		{name: "server name implies tls", args: []string{"--tls-server-name", "kafka.example"}, nOpts: 1},
		{name: "ca implies tls", args: []string{"--tls-ca-file", caFile}, nOpts: 1},
		{name: "insecure implies tls", args: []string{"--tls-insecure-skip-verify"}, nOpts: 1},
		{name: "mutual tls", args: []string{"--tls-cert-file", certFile, "--tls-key-file", keyFile}, nOpts: 1},
		{name: "scram env password", args: []string{"--sasl-mechanism", "scram-sha-256", "--sasl-user", "u"},
			env: map[string]string{PasswordEnv: secret}, nOpts: 1},
		{name: "scram512 password file", args: []string{"--sasl-mechanism", "SCRAM-SHA-512", "--sasl-user", "u", "--sasl-password-file", pwFile}, nOpts: 1},
		{name: "plain over tls", args: []string{"--tls", "--sasl-mechanism", "Plain", "--sasl-user", "u"},
			env: map[string]string{PasswordEnv: secret}, nOpts: 2},
		{name: "explicit none", args: []string{"--sasl-mechanism", "NONE"}, nOpts: 0},

		{name: "unknown mechanism", args: []string{"--sasl-mechanism", "GSSAPI"},
			wantErr: []string{`--sasl-mechanism "GSSAPI" is unknown`, "SCRAM-SHA-256"}},
		{name: "user without mechanism", args: []string{"--sasl-user", "u"},
			wantErr: []string{`--sasl-user "u"`, "--sasl-mechanism is none"}},
		{name: "password file without mechanism", args: []string{"--sasl-password-file", pwFile},
			wantErr: []string{"--sasl-password-file", "--sasl-mechanism is none"}},
		{name: "password env without mechanism", env: map[string]string{PasswordEnv: secret},
			wantErr: []string{PasswordEnv + " is set", "--sasl-mechanism is none"}},
		{name: "mechanism without user", args: []string{"--sasl-mechanism", "PLAIN"}, env: map[string]string{PasswordEnv: secret},
			wantErr: []string{"PLAIN needs a user", "--sasl-user"}},
		{name: "mechanism without password", args: []string{"--sasl-mechanism", "SCRAM-SHA-256", "--sasl-user", "u"},
			wantErr: []string{"needs a password", PasswordEnv, "--sasl-password-file"}},
		{name: "password twice", args: []string{"--sasl-mechanism", "SCRAM-SHA-256", "--sasl-user", "u", "--sasl-password-file", pwFile},
			env: map[string]string{PasswordEnv: secret}, wantErr: []string{"given twice", pwFile, PasswordEnv}},
		{name: "empty password file", args: []string{"--sasl-mechanism", "SCRAM-SHA-256", "--sasl-user", "u", "--sasl-password-file", emptyPw},
			wantErr: []string{emptyPw, "is empty"}},
		{name: "missing password file", args: []string{"--sasl-mechanism", "SCRAM-SHA-256", "--sasl-user", "u", "--sasl-password-file", missing},
			wantErr: []string{"--sasl-password-file", missing}},
		{name: "cert without key", args: []string{"--tls-cert-file", certFile},
			wantErr: []string{"--tls-cert-file", certFile, "needs --tls-key-file"}},
		{name: "key without cert", args: []string{"--tls-key-file", keyFile},
			wantErr: []string{"--tls-key-file", keyFile, "needs --tls-cert-file"}},
		{name: "missing ca", args: []string{"--tls-ca-file", missing},
			wantErr: []string{"--tls-ca-file", missing}},
		{name: "invalid ca", args: []string{"--tls-ca-file", garbage},
			wantErr: []string{"--tls-ca-file", garbage, "no PEM certificate"}},
		{name: "missing cert", args: []string{"--tls-cert-file", missing, "--tls-key-file", keyFile},
			wantErr: []string{"--tls-cert-file", missing}},
		{name: "invalid cert", args: []string{"--tls-cert-file", garbage, "--tls-key-file", keyFile},
			wantErr: []string{"--tls-cert-file", garbage}},
		{name: "key not matching cert", args: []string{"--tls-cert-file", certFile, "--tls-key-file", pki.writeOtherKey(t, dir)},
			wantErr: []string{"--tls-cert-file", certFile, "private key"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, _ := parseConn(t, tt.args)
			c.Getenv = env(tt.env)
			opts, err := c.SecurityOpts()
			if tt.wantErr == nil {
				require.NoError(t, err)
				require.Len(t, opts, tt.nOpts)
				require.NoError(t, c.Validate())
				return
			}
			require.Error(t, err)
			for _, w := range tt.wantErr {
				require.Contains(t, err.Error(), w)
			}
			require.NotContains(t, err.Error(), secret)
		})
	}
}

func TestTLSConfig(t *testing.T) {
	pki := newPKI(t)
	dir := t.TempDir()
	certFile, keyFile := pki.writeClientPair(t, dir)
	c := &Conn{TLSCAFile: pki.writeCA(t, dir, "ca.pem"), TLSCertFile: certFile, TLSKeyFile: keyFile, TLSServerName: "kafka.example"}
	cfg, err := c.TLSConfig()
	require.NoError(t, err)
	require.Equal(t, uint16(tls.VersionTLS12), cfg.MinVersion)
	require.Equal(t, "kafka.example", cfg.ServerName)
	require.NotNil(t, cfg.RootCAs)
	require.Len(t, cfg.Certificates, 1)
	require.False(t, cfg.InsecureSkipVerify)

	cfg, err = (&Conn{TLS: true}).TLSConfig()
	require.NoError(t, err)
	require.Nil(t, cfg.RootCAs, "no CA file: the system pool")
	require.Empty(t, cfg.ServerName, "kgo fills in each broker's host")
}

func TestFlagsFromEnvironment(t *testing.T) {
	pwFile := writeFile(t, "pw", secret+"\r\n")
	t.Setenv(EnvPrefix+"_BROKERS", "b1:9093,b2:9093")
	t.Setenv(EnvPrefix+"_TLS_SERVER_NAME", "kafka.example")
	t.Setenv(EnvPrefix+"_SASL_MECHANISM", "scram-sha-512")
	t.Setenv(EnvPrefix+"_SASL_USER", "svc")
	t.Setenv(EnvPrefix+"_SASL_PASSWORD_FILE", pwFile)
	c, _ := parseConn(t, nil)
	require.Equal(t, "b1:9093,b2:9093", c.Brokers)
	require.True(t, c.TLSEnabled())
	mech, err := c.Mechanism()
	require.NoError(t, err)
	require.Equal(t, MechanismScramSHA512, mech)
	pw, err := c.password()
	require.NoError(t, err)
	require.Equal(t, secret, pw, "the trailing newline is trimmed")
	opts, err := c.Opts()
	require.NoError(t, err)
	require.Len(t, opts, 3)

	// The password variable is read by SecurityOpts, not by ff (there is
	// no flag for it).
	t.Setenv(EnvPrefix+"_SASL_PASSWORD_FILE", "")
	t.Setenv(PasswordEnv, secret)
	c, fs := parseConn(t, nil)
	require.Nil(t, fs.Lookup("sasl-password"))
	fs.VisitAll(func(f *flag.Flag) { require.NotContains(t, f.Value.String(), secret, f.Name) })
	pw, err = c.password()
	require.NoError(t, err)
	require.Equal(t, secret, pw, "Getenv nil: os.Getenv")
}

func TestNoPasswordFlag(t *testing.T) {
	c := &Conn{}
	fs := flag.NewFlagSet("test", flag.ContinueOnError)
	fs.SetOutput(new(bytes.Buffer))
	c.Register(fs, "", "brokers")
	err := fs.Parse([]string{"--sasl-password", secret})
	require.ErrorContains(t, err, "flag provided but not defined")
	fs.VisitAll(func(f *flag.Flag) { require.NotEqual(t, "sasl-password", f.Name) })
}

func TestSecretsNeverShown(t *testing.T) {
	pwFile := writeFile(t, "pw", secret)
	t.Setenv(PasswordEnv, secret)
	t.Setenv(EnvPrefix+"_SASL_MECHANISM", "SCRAM-SHA-256")
	t.Setenv(EnvPrefix+"_SASL_USER", "alice")

	// --help: the usage text of every flag, as both binaries print it.
	caFile := newPKI(t).writeCA(t, t.TempDir(), "ca.pem")
	c, fs := parseConn(t, []string{"--tls-ca-file", caFile, "--tls-insecure-skip-verify"})
	var usage bytes.Buffer
	fs.SetOutput(&usage)
	fs.PrintDefaults()
	require.NotContains(t, usage.String(), secret)
	require.Contains(t, usage.String(), PasswordEnv, "the usage says where the password comes from")
	require.Contains(t, usage.String(), "INSECURE")

	opts, err := c.SecurityOpts()
	require.NoError(t, err)
	require.Len(t, opts, 2)

	for _, conn := range []*Conn{c, {Brokers: "b:1", SASLMechanism: "plain", SASLUser: "bob", SASLPasswordFile: pwFile, Getenv: env(nil)}} {
		d := conn.Describe()
		require.Contains(t, d, "sasl=")
		require.NotContains(t, d, secret)
		for _, format := range []string{"%v", "%+v", "%#v", "%s"} {
			require.NotContains(t, fmt.Sprintf(format, conn), secret, format)
			require.NotContains(t, fmt.Sprintf(format, *conn), secret, format)
		}
		var logs bytes.Buffer
		slog.New(slog.NewJSONHandler(&logs, nil)).Info("starting", "kafka", *conn, "kafka_ptr", conn)
		require.NotContains(t, logs.String(), secret)
		require.Contains(t, logs.String(), `"sasl_user"`)
	}
	d := c.Describe()
	require.Contains(t, d, "brokers=127.0.0.1:9092")
	require.Contains(t, d, "tls=on")
	require.Contains(t, d, "tls-insecure-skip-verify=true")
	require.Contains(t, d, "sasl=SCRAM-SHA-256")
	require.Contains(t, d, `sasl-user="alice"`)
	require.Equal(t, "brokers=x:1 tls=off sasl=none", (&Conn{Brokers: "x:1"}).Describe())
}

// ---- end to end against kfake over TLS with SASL ----

type pki struct {
	ca     *x509.Certificate
	caKey  *ecdsa.PrivateKey
	caPEM  []byte
	server tls.Certificate
}

func newKey(t *testing.T) *ecdsa.PrivateKey {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	return k
}

func template(cn string) *x509.Certificate {
	return &x509.Certificate{
		SerialNumber: big.NewInt(mrand.Int64()),
		Subject:      pkix.Name{CommonName: cn},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
	}
}

// newPKI makes a CA and a server certificate for 127.0.0.1 (IP SAN)
// signed by it.
func newPKI(t *testing.T) *pki {
	t.Helper()
	p := &pki{caKey: newKey(t)}
	caT := template("catering test CA")
	caT.IsCA, caT.BasicConstraintsValid = true, true
	caT.KeyUsage = x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature
	der, err := x509.CreateCertificate(rand.Reader, caT, caT, &p.caKey.PublicKey, p.caKey)
	require.NoError(t, err)
	p.ca, err = x509.ParseCertificate(der)
	require.NoError(t, err)
	p.caPEM = pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})

	srvKey := newKey(t)
	srvT := template("127.0.0.1")
	srvT.IPAddresses = []net.IP{net.IPv4(127, 0, 0, 1)}
	srvT.KeyUsage = x509.KeyUsageDigitalSignature
	srvT.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
	der, err = x509.CreateCertificate(rand.Reader, srvT, p.ca, &srvKey.PublicKey, p.caKey)
	require.NoError(t, err)
	p.server = tls.Certificate{Certificate: [][]byte{der}, PrivateKey: srvKey}
	return p
}

func (p *pki) writeCA(t *testing.T, dir, name string) string {
	path := filepath.Join(dir, name)
	require.NoError(t, os.WriteFile(path, p.caPEM, 0o600))
	return path
}

func (p *pki) writeClientPair(t *testing.T, dir string) (certFile, keyFile string) {
	k := newKey(t)
	tmpl := template("client")
	tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, p.ca, &k.PublicKey, p.caKey)
	require.NoError(t, err)
	kb, err := x509.MarshalECPrivateKey(k)
	require.NoError(t, err)
	certFile, keyFile = filepath.Join(dir, "client.pem"), filepath.Join(dir, "client-key.pem")
	require.NoError(t, os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600))
	require.NoError(t, os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), 0o600))
	return certFile, keyFile
}

func (p *pki) writeOtherKey(t *testing.T, dir string) string {
	kb, err := x509.MarshalECPrivateKey(newKey(t))
	require.NoError(t, err)
	path := filepath.Join(dir, "other-key.pem")
	require.NoError(t, os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), 0o600))
	return path
}

// startCluster starts a one-broker kfake on a free port in [20000, 32000).
func startCluster(t *testing.T, opts ...kfake.Opt) string {
	t.Helper()
	var lastErr error
	for range 50 {
		port := 20000 + mrand.IntN(12000)
		c, err := kfake.NewCluster(append([]kfake.Opt{kfake.NumBrokers(1), kfake.Ports(port), kfake.SeedTopics(1, "t")}, opts...)...)
		if err == nil {
			t.Cleanup(c.Close)
			return net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
		}
		lastErr = err
		if !errors.Is(err, syscall.EADDRINUSE) {
			break
		}
	}
	require.NoError(t, lastErr)
	return ""
}

func secureCluster(t *testing.T, p *pki, mech string) string {
	return startCluster(t,
		kfake.TLS(&tls.Config{Certificates: []tls.Certificate{p.server}, MinVersion: tls.VersionTLS12}),
		kfake.EnableSASL(),
		kfake.Superuser(mech, "admin", secret),
	)
}

// check runs Conn.Check on the conn's Opts and returns its error and how
// long it took.
func check(t *testing.T, c *Conn) (time.Duration, error) {
	return checkWithin(t, c, 10*time.Second)
}

func checkWithin(t *testing.T, c *Conn, timeout time.Duration) (time.Duration, error) {
	t.Helper()
	opts, err := c.Opts()
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(t.Context(), timeout)
	defer cancel()
	start := time.Now()
	err = c.Check(ctx, opts)
	return time.Since(start), err
}

func roundTrip(t *testing.T, c *Conn) {
	t.Helper()
	opts, err := c.Opts()
	require.NoError(t, err)
	cl, err := kgo.NewClient(append(opts, kgo.ConsumeTopics("t"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))...)
	require.NoError(t, err)
	defer cl.Close()
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	require.NoError(t, cl.ProduceSync(ctx, &kgo.Record{Topic: "t", Key: []byte("42"), Value: []byte("hello")}).FirstErr())
	for {
		fs := cl.PollFetches(ctx)
		require.NoError(t, ctx.Err(), "no record consumed")
		require.Empty(t, fs.Errors())
		if recs := fs.Records(); len(recs) > 0 {
			require.Equal(t, "hello", string(recs[0].Value))
			return
		}
	}
}

func TestEndToEndSecure(t *testing.T) {
	for _, mech := range []string{MechanismScramSHA256, MechanismScramSHA512, MechanismPlain} {
		t.Run(mech, func(t *testing.T) {
			t.Parallel()
			p := newPKI(t)
			addr := secureCluster(t, p, mech)
			dir := t.TempDir()
			caFile := p.writeCA(t, dir, "ca.pem")
			wrongCA := newPKI(t).writeCA(t, dir, "wrong-ca.pem")
			pwFile := writeFile(t, "pw", secret+"\n")
			conn := func(ca, user, pass string) *Conn {
				return &Conn{Brokers: addr, TLSCAFile: ca, SASLMechanism: strings.ToLower(mech), SASLUser: user,
					Getenv: env(map[string]string{PasswordEnv: pass})}
			}

			t.Run("good credentials", func(t *testing.T) {
				c := conn(caFile, "admin", secret)
				_, err := check(t, c)
				require.NoError(t, err)
				roundTrip(t, c)
			})
			t.Run("password file", func(t *testing.T) {
				c := conn(caFile, "admin", "")
				c.SASLPasswordFile = pwFile
				_, err := check(t, c)
				require.NoError(t, err)
			})
			t.Run("wrong password", func(t *testing.T) {
				const wrong = "Wrong-Pa55word-xyz"
				took, err := check(t, conn(caFile, "admin", wrong))
				t.Log(err)
				require.Error(t, err)
				require.Less(t, took, 5*time.Second, "fails fast")
				msg := err.Error()
				require.Contains(t, msg, `authentication failed for user "admin" with `+mech)
				require.Contains(t, msg, PasswordEnv)
				require.NotContains(t, msg, wrong)
				require.NotContains(t, msg, secret)
			})
			t.Run("unknown user", func(t *testing.T) {
				took, err := check(t, conn(caFile, "mallory", secret))
				t.Log(err)
				require.Less(t, took, 5*time.Second)
				require.ErrorContains(t, err, `authentication failed for user "mallory"`)
				require.NotContains(t, err.Error(), secret)
			})
			t.Run("wrong CA", func(t *testing.T) {
				took, err := check(t, conn(wrongCA, "admin", secret))
				t.Log(err)
				require.Less(t, took, 5*time.Second)
				require.ErrorContains(t, err, "certificate")
				require.ErrorContains(t, err, wrongCA)
				require.ErrorContains(t, err, "set --tls-ca-file")
			})
			t.Run("system pool does not trust a private CA", func(t *testing.T) {
				c := conn("", "admin", secret)
				c.TLS = true
				_, err := check(t, c)
				require.ErrorContains(t, err, "certificate")
			})
			t.Run("insecure skip verify with wrong CA", func(t *testing.T) {
				c := conn(wrongCA, "admin", secret)
				c.TLSInsecureSkipVerify = true
				_, err := check(t, c)
				require.NoError(t, err)
				roundTrip(t, c)
			})
			t.Run("wrong server name", func(t *testing.T) {
				c := conn(caFile, "admin", secret)
				c.TLSServerName = "kafka.example"
				took, err := check(t, c)
				t.Log(err)
				require.Less(t, took, 5*time.Second)
				require.ErrorContains(t, err, `not valid for server name "kafka.example"`)
				require.ErrorContains(t, err, "127.0.0.1")
			})
			t.Run("plaintext to the TLS listener", func(t *testing.T) {
				c := &Conn{Brokers: addr, SASLMechanism: mech, SASLUser: "admin", Getenv: env(map[string]string{PasswordEnv: secret})}
				took, err := check(t, c)
				t.Log(err)
				require.Error(t, err)
				require.Less(t, took, 10*time.Second)
				require.Contains(t, err.Error(), "--tls")
				require.NotContains(t, err.Error(), secret)
			})
			t.Run("SASL missing", func(t *testing.T) {
				c := &Conn{Brokers: addr, TLSCAFile: caFile, Getenv: env(nil)}
				took, err := check(t, c)
				t.Log(err)
				require.Error(t, err)
				require.Less(t, took, 10*time.Second)
				require.Contains(t, err.Error(), "--sasl-mechanism")
			})
		})
	}
}

func TestEndToEndPlaintextBroker(t *testing.T) {
	addr := startCluster(t)
	t.Run("plaintext works", func(t *testing.T) {
		c := &Conn{Brokers: addr, Getenv: env(nil)}
		_, err := check(t, c)
		require.NoError(t, err)
		roundTrip(t, c)
	})
	t.Run("TLS to a plaintext listener", func(t *testing.T) {
		// kfake reads the ClientHello as the length of a huge request and
		// waits for it; a real broker closes the connection. Either way
		// the error points at --tls.
		c := &Conn{Brokers: addr, TLS: true, Getenv: env(nil)}
		took, err := checkWithin(t, c, 2*time.Second)
		t.Log(err)
		require.Error(t, err)
		require.Less(t, took, 5*time.Second)
		require.Contains(t, err.Error(), "drop --tls")
	})
	t.Run("connection refused", func(t *testing.T) {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		require.NoError(t, err)
		free := l.Addr().String()
		require.NoError(t, l.Close())
		took, err := check(t, &Conn{Brokers: free, Getenv: env(nil)})
		t.Log(err)
		require.Less(t, took, 10*time.Second)
		require.ErrorContains(t, err, "cannot connect to brokers "+free)
	})
}
