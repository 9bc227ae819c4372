package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/meshguard/meshguard/internal/testcert"
)

// floorWebhook is bench/cmd/floorhook running in its own process: the least
// any webhook costs the API server. Registered with the chart's own
// configurations, it measures what the API server spends calling a webhook
// (building the review, TLS, applying the patch), which no webhook can avoid.
type floorWebhook struct {
	cmd   *exec.Cmd
	url   string
	caPEM []byte
}

// startFloorWebhook builds floorhook from the bench module and starts it with
// a fresh serving certificate.
func startFloorWebhook(ctx context.Context, repo, dir string) (*floorWebhook, error) {
	bin := filepath.Join(dir, "floorhook")
	build := exec.CommandContext(ctx, "go", "build", "-o", bin, "./cmd/floorhook")
	build.Dir = filepath.Join(repo, "bench")
	build.Env = append(os.Environ(), "GOWORK=off")
	if out, err := build.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("go build ./cmd/floorhook: %w\n%s", err, out)
	}
	certDir := filepath.Join(dir, "certs-floor")
	if err := os.MkdirAll(certDir, 0o700); err != nil {
		return nil, err
	}
	cert, err := testcert.Write(certDir, testcert.Options{})
	if err != nil {
		return nil, err
	}
	f := &floorWebhook{cmd: exec.Command(bin, "-cert-dir", certDir), caPEM: cert.CA.PEM}
	f.cmd.Stderr = os.Stderr
	stdout, err := f.cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := f.cmd.Start(); err != nil {
		return nil, err
	}
	addr := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		if sc.Scan() {
			addr <- strings.TrimPrefix(sc.Text(), "listening on ")
		}
		close(addr)
	}()
	select {
	case a, ok := <-addr:
		if !ok || a == "" {
			f.stop()
			return nil, errors.New("floorhook exited before listening")
		}
		f.url = "https://" + a
	case <-time.After(30 * time.Second):
		f.stop()
		return nil, errors.New("floorhook did not listen within 30 s")
	}
	return f, nil
}

func (f *floorWebhook) pid() int { return f.cmd.Process.Pid }

func (f *floorWebhook) stop() {
	_ = f.cmd.Process.Kill()
	_ = f.cmd.Wait()
}

// configs are copies of meshguard's rendered configurations, renamed and
// pointed at the floor webhook; rules, selectors, match conditions, failure
// policies and timeouts stay the chart's.
func (f *floorWebhook) configs(v *admissionregistrationv1.ValidatingWebhookConfiguration, m *admissionregistrationv1.MutatingWebhookConfiguration) (*admissionregistrationv1.ValidatingWebhookConfiguration, *admissionregistrationv1.MutatingWebhookConfiguration, error) {
	v, m = v.DeepCopy(), m.DeepCopy()
	v.ObjectMeta = metav1.ObjectMeta{Name: v.Name + "-floor"}
	m.ObjectMeta = metav1.ObjectMeta{Name: m.Name + "-floor"}
	for i := range v.Webhooks {
		if err := f.point(&v.Webhooks[i].ClientConfig); err != nil {
			return nil, nil, err
		}
	}
	for i := range m.Webhooks {
		if err := f.point(&m.Webhooks[i].ClientConfig); err != nil {
			return nil, nil, err
		}
	}
	return v, m, nil
}

func (f *floorWebhook) point(cc *admissionregistrationv1.WebhookClientConfig) error {
	if cc.URL == nil {
		return errors.New("webhook configuration without a URL")
	}
	u, err := url.Parse(*cc.URL)
	if err != nil {
		return err
	}
	s := f.url + u.Path
	cc.URL, cc.CABundle = &s, f.caPEM
	return nil
}
