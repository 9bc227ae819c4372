// Command load drives meshguard's real webhook server and a bare net/http
// server doing the floor work over loopback HTTPS (TLS 1.3, keep-alive), in
// the same run: a closed-loop throughput phase with N concurrent clients
// (alternating floor, meshguard, meshguard, floor) and a fixed-rate phase
// reporting latency percentiles. Both phases are bounded in duration and
// request count; nothing listens beyond 127.0.0.1.
package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"runtime"
	"runtime/pprof"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/webhook"

	"github.com/meshguard/meshguard/bench"
	"github.com/meshguard/meshguard/internal/testcert"
	"github.com/meshguard/meshguard/pkg/policy"
	"github.com/meshguard/meshguard/pkg/server"
)

// Config bounds one run.
type Config struct {
	Root        string        // repository root, for the Ingress manifest
	Clients     int           // concurrent keep-alive clients
	Duration    time.Duration // closed-loop time per target (split in two halves, ABBA)
	MaxRequests int64         // closed-loop request cap per target
	Rate        int           // fixed-rate requests per second; 0 skips the phase
	RateFor     time.Duration // fixed-rate duration per target
}

// Stats are one target's figures in one phase.
type Stats struct {
	Requests, Decisions, Errors int64
	Elapsed                     time.Duration
	Latencies                   []time.Duration // fixed-rate phase only, sorted
}

// RPS is the completed decisions per second.
func (s Stats) RPS() float64 { return float64(s.Decisions) / s.Elapsed.Seconds() }

// Quantile of the sorted latencies.
func (s Stats) Quantile(q float64) time.Duration {
	if len(s.Latencies) == 0 {
		return 0
	}
	i := int(q * float64(len(s.Latencies)-1))
	return s.Latencies[i]
}

// Result is a whole run.
type Result struct {
	Throughput, Rate map[string]*Stats
}

// Targets, in report order.
var Targets = []string{"floor", "meshguard"}

func main() {
	var c Config
	flag.StringVar(&c.Root, "root", "..", "repository root (holds "+bench.IngressManifest+")")
	flag.IntVar(&c.Clients, "clients", 8, "concurrent keep-alive clients")
	flag.DurationVar(&c.Duration, "duration", 10*time.Second, "closed-loop time per target")
	flag.Int64Var(&c.MaxRequests, "max-requests", 2_000_000, "closed-loop request cap per target")
	flag.IntVar(&c.Rate, "rate", 1000, "fixed-rate requests per second (0 skips the phase)")
	flag.DurationVar(&c.RateFor, "rate-duration", 10*time.Second, "fixed-rate time per target")
	cpuProfile := flag.String("cpuprofile", "", "write a CPU profile of the whole run (clients and both servers) to this file")
	flag.Parse()
	if c.Duration > 5*time.Minute || c.RateFor > 5*time.Minute || c.Clients < 1 || c.Clients > 256 || c.Rate > 50_000 {
		fmt.Fprintln(os.Stderr, "load: bounds are 1-256 clients, at most 5m per phase and 50000 req/s")
		os.Exit(2)
	}
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err == nil {
			err = pprof.StartCPUProfile(f)
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "load: -cpuprofile:", err)
			os.Exit(2)
		}
		defer pprof.StopCPUProfile()
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	r, err := Run(ctx, c)
	if err != nil {
		fmt.Fprintln(os.Stderr, "load:", err)
		os.Exit(1)
	}
	Print(os.Stdout, c, r)
	for _, s := range append(values(r.Throughput), values(r.Rate)...) {
		if s.Errors > 0 || s.Decisions != s.Requests {
			pprof.StopCPUProfile()
			os.Exit(1)
		}
	}
}

func values(m map[string]*Stats) []*Stats {
	var out []*Stats
	for _, t := range Targets {
		if s := m[t]; s != nil {
			out = append(out, s)
		}
	}
	return out
}

// Print writes the report.
func Print(w io.Writer, c Config, r *Result) {
	fmt.Fprintf(w, "loopback HTTPS, TLS 1.3, HTTP/1.1 keep-alive, %d clients, GOMAXPROCS=%d\n", c.Clients, runtime.GOMAXPROCS(0))
	fmt.Fprintf(w, "%-10s %12s %10s %8s\n", "closed", "decisions", "req/s", "errors")
	for _, t := range Targets {
		if s := r.Throughput[t]; s != nil {
			fmt.Fprintf(w, "%-10s %12d %10.0f %8d\n", t, s.Decisions, s.RPS(), s.Errors)
		}
	}
	if f, m := r.Throughput["floor"], r.Throughput["meshguard"]; f != nil && m != nil && f.RPS() > 0 {
		fmt.Fprintf(w, "throughput meshguard/floor = %.2f\n", m.RPS()/f.RPS())
	}
	if len(r.Rate) > 0 {
		fmt.Fprintf(w, "%-10s %6s %10s %10s %10s %10s %8s\n", "fixed", "req/s", "decisions", "p50", "p99", "p99.9", "errors")
		for _, t := range Targets {
			if s := r.Rate[t]; s != nil {
				fmt.Fprintf(w, "%-10s %6d %10d %10s %10s %10s %8d\n", t, c.Rate, s.Decisions,
					s.Quantile(0.50).Round(time.Microsecond), s.Quantile(0.99).Round(time.Microsecond), s.Quantile(0.999).Round(time.Microsecond), s.Errors)
			}
		}
	}
}

// Run starts both servers on 127.0.0.1, loads them, and stops them.
func Run(ctx context.Context, c Config) (*Result, error) {
	ctrllog.SetLogger(logr.Discard())
	body, err := bench.LoadIngressReview(c.Root)
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "meshguard-load-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	pool, cert, err := selfSigned(dir)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	mgURL, mgDone, err := startMeshguard(ctx, dir, pool)
	if err != nil {
		return nil, err
	}
	floorURL, floorDone, err := startFloor(cert)
	if err != nil {
		return nil, err
	}
	defer func() {
		cancel()
		floorDone()
		<-mgDone
	}()

	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		TLSClientConfig:     &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS13, ServerName: "127.0.0.1"},
		MaxIdleConnsPerHost: c.Clients,
		MaxConnsPerHost:     c.Clients,
		IdleConnTimeout:     time.Minute,
	}}
	defer client.CloseIdleConnections()
	urls := map[string]string{"floor": floorURL, "meshguard": mgURL}
	// Warm up connections and code paths.
	for _, t := range Targets {
		if err := oneRequest(client, urls[t], body); err != nil {
			return nil, fmt.Errorf("%s: %w", t, err)
		}
	}

	res := &Result{Throughput: map[string]*Stats{}, Rate: map[string]*Stats{}}
	for _, t := range Targets {
		res.Throughput[t] = &Stats{}
	}
	half := c.Duration / 2
	for _, t := range []string{"floor", "meshguard", "meshguard", "floor"} {
		closedLoop(ctx, client, urls[t], body, c.Clients, half, c.MaxRequests/2, res.Throughput[t])
	}
	if c.Rate > 0 {
		for _, t := range Targets {
			res.Rate[t] = fixedRate(ctx, client, urls[t], body, c.Clients, c.Rate, c.RateFor)
		}
	}
	return res, nil
}

// oneRequest posts the review and checks the answer is a denial.
func oneRequest(client *http.Client, url string, body []byte) error {
	resp, err := client.Post(url, "application/json", bytes.NewReader(body))
	if err != nil {
		return err
	}
	out, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("HTTP %d: %s", resp.StatusCode, out)
	}
	if !bytes.Contains(out, []byte(`"allowed":false`)) {
		return fmt.Errorf("not a denial: %s", out)
	}
	return nil
}

// closedLoop runs n clients back to back for d or until max requests, adding to s.
func closedLoop(ctx context.Context, client *http.Client, url string, body []byte, n int, d time.Duration, max int64, s *Stats) {
	var issued, ok, failed atomic.Int64
	deadline := time.Now().Add(d)
	start := time.Now()
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			for ctx.Err() == nil && time.Now().Before(deadline) && issued.Add(1) <= max {
				if oneRequest(client, url, body) != nil {
					failed.Add(1)
				} else {
					ok.Add(1)
				}
			}
		})
	}
	wg.Wait()
	s.Elapsed += time.Since(start)
	s.Decisions += ok.Load()
	s.Errors += failed.Load()
	s.Requests += ok.Load() + failed.Load()
}

// fixedRate sends rate req/s for d from n clients; latency counts from the
// request's scheduled time, so a stalled server is not hidden by the clients
// waiting for it (no coordinated omission).
func fixedRate(ctx context.Context, client *http.Client, url string, body []byte, n, rate int, d time.Duration) *Stats {
	total := int(float64(rate) * d.Seconds())
	interval := time.Second / time.Duration(rate)
	lat := make([]time.Duration, total)
	okv := make([]bool, total)
	next := make(chan int, n)
	start := time.Now()
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			for i := range next {
				due := start.Add(time.Duration(i) * interval)
				if err := oneRequest(client, url, body); err == nil {
					okv[i] = true
				}
				lat[i] = time.Since(due)
			}
		})
	}
	issued := 0
	for i := 0; i < total && ctx.Err() == nil; i++ {
		if w := time.Until(start.Add(time.Duration(i) * interval)); w > 0 {
			time.Sleep(w)
		}
		next <- i
		issued++
	}
	close(next)
	wg.Wait()
	s := &Stats{Elapsed: time.Since(start), Requests: int64(issued)}
	for i := range issued {
		if okv[i] {
			s.Decisions++
			s.Latencies = append(s.Latencies, lat[i])
		} else {
			s.Errors++
		}
	}
	slices.Sort(s.Latencies)
	return s
}

// startMeshguard serves meshguard's review.Handler (Ingress rule, namespaces
// from memory, metrics registered) through controller-runtime's webhook
// server, as pkg/server does.
func startMeshguard(ctx context.Context, certDir string, pool *x509.CertPool) (string, <-chan struct{}, error) {
	port, err := freePort()
	if err != nil {
		return "", nil, err
	}
	m, err := policy.NewMetrics(prometheus.NewRegistry())
	if err != nil {
		return "", nil, err
	}
	srv := webhook.NewServer(webhook.Options{Host: "127.0.0.1", Port: port, CertDir: certDir, TLSOpts: []func(*tls.Config){server.HTTP1Only}})
	srv.Register("/validate", bench.MeshguardHandler(bench.Labels(), m))
	done := make(chan struct{})
	errc := make(chan error, 1)
	go func() {
		defer close(done)
		errc <- srv.Start(ctx)
	}()
	url := fmt.Sprintf("https://127.0.0.1:%d/validate", port)
	check := srv.StartedChecker()
	probe, _ := http.NewRequest(http.MethodGet, url, nil)
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if check(probe) == nil {
			return url, done, nil
		}
		select {
		case err := <-errc:
			return "", nil, fmt.Errorf("webhook server: %v", err)
		default:
		}
		if time.Now().After(deadline) {
			return "", nil, errors.New("webhook server did not start within 10s")
		}
	}
}

// startFloor serves the floor work from a bare net/http TLS server.
func startFloor(cert tls.Certificate) (string, func(), error) {
	floor := bench.Floor(bench.Labels())
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 8<<20))
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		out, err := floor(r.Context(), body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(out)
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	srv := &http.Server{Handler: h, TLSConfig: &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS13}, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.ServeTLS(ln, "", "") }()
	return "https://" + ln.Addr().String() + "/validate", func() { _ = srv.Close() }, nil
}

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// selfSigned writes tls.crt and tls.key for 127.0.0.1 into dir.
func selfSigned(dir string) (*x509.CertPool, tls.Certificate, error) {
	p, err := testcert.Write(dir, testcert.Options{IPs: []net.IP{net.IPv4(127, 0, 0, 1)}})
	if err != nil {
		return nil, tls.Certificate{}, err
	}
	cert, err := p.TLSCertificate()
	return p.Pool(), cert, err
}
