package hostile

import (
	"bufio"
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"sync"
	"testing"
	"time"
)

func (f *fixture) tlsFloor(t *testing.T) {
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(f.w.Port))
	for name, tweak := range map[string]func(*tls.Config){
		"TLS 1.1": func(c *tls.Config) { c.MinVersion, c.MaxVersion = tls.VersionTLS10, tls.VersionTLS11 },
		"TLS 1.2 with only CBC-SHA1 suites": func(c *tls.Config) {
			c.MaxVersion = tls.VersionTLS12
			c.CipherSuites = []uint16{tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA, tls.TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA,
				tls.TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA, tls.TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA}
		},
	} {
		cfg := tlsConfig(f.w)
		tweak(cfg)
		conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", addr, cfg)
		if err == nil {
			t.Errorf("%s: handshake succeeded with %s", name, tls.CipherSuiteName(conn.ConnectionState().CipherSuite))
			conn.Close()
		}
	}
	conn, err := tls.Dial("tcp", addr, tlsConfig(f.w))
	if err != nil {
		t.Fatalf("a default client: %v", err)
	}
	conn.Close()
}

func (f *fixture) exactPaths(t *testing.T) {
	c := &http.Client{
		Transport:     &http.Transport{TLSClientConfig: tlsConfig(f.w)},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		Timeout:       10 * time.Second,
	}
	for _, path := range []string{"/x/../validate", "//validate", "/validate/", "/./mutate", "/mutate/.."} {
		req, err := http.NewRequest(http.MethodPost, "https://127.0.0.1:"+strconv.Itoa(f.w.Port)+path, nil)
		if err != nil {
			t.Fatal(err)
		}
		req.URL.RawPath, req.URL.Path = path, path // sent as written, not cleaned by the client
		req.Header.Set("Content-Type", "application/json")
		resp, err := c.Do(req)
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusNotFound {
			t.Errorf("POST %s: HTTP %d (Location %q), want 404", path, resp.StatusCode, resp.Header.Get("Location"))
		}
	}
}

// upload opens a TLS connection and sends a POST declaring length bytes,
// then sends what send writes; it returns the status line the server
// answers with, or the error that ended the connection, and when.
func (f *fixture) upload(length int, send func(w *bufio.Writer) error) (string, time.Duration) {
	start := time.Now()
	conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(f.w.Port)), tlsConfig(f.w))
	if err != nil {
		return "dial: " + err.Error(), time.Since(start)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(30 * time.Second)) // the bound of this client, far past the server's
	w := bufio.NewWriter(conn)
	fmt.Fprintf(w, "POST /mutate HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n", length)
	done := make(chan struct{})
	go func() { // the sender stops when the server closes or answers
		defer close(done)
		_ = send(w)
	}()
	line, err := bufio.NewReader(conn).ReadString('\n')
	took := time.Since(start)
	_ = conn.Close()
	<-done
	if err != nil {
		return "closed: " + err.Error(), took
	}
	return line, took
}

// drip sends one byte of a review every interval until the connection fails.
func drip(interval time.Duration) func(w *bufio.Writer) error {
	return func(w *bufio.Writer) error {
		for range 1000 {
			if err := w.WriteByte(' '); err != nil {
				return err
			}
			if err := w.Flush(); err != nil {
				return err
			}
			time.Sleep(interval)
		}
		return nil
	}
}

func (f *fixture) slowUploaders(t *testing.T) {
	var wg sync.WaitGroup
	results := make([]string, 100)
	took := make([]time.Duration, 100)
	for i := range 100 {
		wg.Go(func() { results[i], took[i] = f.upload(3<<20, drip(100*time.Millisecond)) })
	}
	// Valid reviews while the uploaders hold their connections.
	ctx, cancel := context.WithTimeout(context.Background(), 3*budget)
	defer cancel()
	body := storyReview(t)
	answered := 0
	for ctx.Err() == nil {
		a := f.p.mustPost(t, "/mutate", body)
		checkStory(t, a)
		if a.took > slowest {
			t.Errorf("a valid review took %s among the slow uploaders", a.took)
		}
		answered++
		time.Sleep(50 * time.Millisecond)
	}
	wg.Wait()
	t.Logf("%d valid reviews answered among 100 slow uploaders; first uploader: %q after %s", answered, results[0], took[0].Round(time.Millisecond))
	for i, r := range results {
		if took[i] > slowest || r == "" || (len(r) > 9 && r[9] == '2') {
			t.Errorf("slow uploader %d: %q after %s, want an HTTP error or a closed connection within %s", i, r, took[i], slowest)
		}
	}
}

func (f *fixture) stalledUploads(t *testing.T) {
	var wg sync.WaitGroup
	results := make([]string, 40)
	took := make([]time.Duration, 40)
	half := make([]byte, 4<<20)
	for i := range half {
		half[i] = ' '
	}
	for i := range 40 {
		wg.Go(func() {
			results[i], took[i] = f.upload(8<<20-1, func(w *bufio.Writer) error {
				if _, err := w.Write(half); err != nil {
					return err
				}
				if err := w.Flush(); err != nil {
					return err
				}
				time.Sleep(20 * time.Second) // stalled, until the server gives up
				return nil
			})
		})
	}
	wg.Wait()
	for i, r := range results {
		if took[i] > slowest || (len(r) > 9 && r[9] == '2') {
			t.Errorf("stalled upload %d: %q after %s, want an HTTP error or a closed connection within %s", i, r, took[i], slowest)
		}
	}
	checkStory(t, f.p.mustPost(t, "/mutate", storyReview(t)))
}
