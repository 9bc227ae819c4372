package certs

import (
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"os"
	"path/filepath"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/client-go/rest"
	toolscache "k8s.io/client-go/tools/cache"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/manager"
)

// addSecretFiles keeps tls.crt and tls.key in c.Dir equal to the Secret's.
//
// cert-controller only writes the Secret and waits for the files to appear,
// expecting a Secret volume. A volume is refreshed by the kubelet up to a
// minute or more later, and does not exist at all when the server runs
// outside a pod; writing the files from a watch of the Secret makes a new
// replica ready, and a rotated certificate served, within seconds everywhere.
func addSecretFiles(mgr manager.Manager, cfg *rest.Config, c Config, log logr.Logger) error {
	sc, err := cache.New(cfg, cache.Options{
		Scheme:            mgr.GetScheme(),
		Mapper:            mgr.GetRESTMapper(),
		DefaultNamespaces: map[string]cache.Config{c.Namespace: {}},
		ByObject: map[client.Object]cache.ByObject{
			&corev1.Secret{}: {Field: fields.OneTermEqualSelector("metadata.name", c.Secret)},
		},
	})
	if err != nil {
		return fmt.Errorf("creating the cache for secret %s/%s: %w", c.Namespace, c.Secret, err)
	}
	// The informer is registered now and starts with the cache.
	inf, err := sc.GetInformer(context.Background(), &corev1.Secret{})
	if err != nil {
		return fmt.Errorf("watching secret %s/%s: %w", c.Namespace, c.Secret, err)
	}
	sync := func(obj any) {
		secret, ok := obj.(*corev1.Secret)
		if !ok || secret.Name != c.Secret {
			return
		}
		changed, err := writeKeyPair(c.Dir, secret.Data[CertFile], secret.Data[KeyFile])
		switch {
		case err != nil:
			log.Error(err, "not writing the serving certificate from the secret; the previous one stays in use", "secret", c.Namespace+"/"+c.Secret)
		case changed:
			log.Info("wrote the serving certificate from the secret", "secret", c.Namespace+"/"+c.Secret, "dir", c.Dir)
		}
	}
	if _, err := inf.AddEventHandler(toolscache.ResourceEventHandlerFuncs{
		AddFunc:    sync,
		UpdateFunc: func(_, obj any) { sync(obj) },
	}); err != nil {
		return fmt.Errorf("watching secret %s/%s: %w", c.Namespace, c.Secret, err)
	}
	return mgr.Add(runnableCache{sc})
}

// runnableCache runs a cache on every replica: without NeedLeaderElection the
// manager would put it in its leader-election group.
type runnableCache struct{ cache.Cache }

func (runnableCache) NeedLeaderElection() bool { return false }

// writeKeyPair writes cert and key into dir when they form a valid key pair
// that differs from the files there, and reports whether it wrote. An empty
// cert or key (the Secret before its first certificate) writes nothing.
func writeKeyPair(dir string, cert, key []byte) (bool, error) {
	if len(cert) == 0 || len(key) == 0 {
		return false, nil
	}
	if _, err := tls.X509KeyPair(cert, key); err != nil {
		return false, fmt.Errorf("%s and %s of the secret do not form a key pair: %w", CertFile, KeyFile, err)
	}
	oldCert, _ := os.ReadFile(filepath.Join(dir, CertFile))
	oldKey, _ := os.ReadFile(filepath.Join(dir, KeyFile))
	if bytes.Equal(oldCert, cert) && bytes.Equal(oldKey, key) {
		return false, nil
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return false, err
	}
	// Each file is replaced by a rename, so a reader never sees half a file;
	// between the two renames the pair does not match, and certwatcher keeps
	// serving the old pair until it does.
	for _, f := range []struct {
		name string
		data []byte
	}{{KeyFile, key}, {CertFile, cert}} {
		if err := writeAtomic(dir, f.name, f.data); err != nil {
			return false, err
		}
	}
	return true, nil
}

func writeAtomic(dir, name string, data []byte) error {
	tmp, err := os.CreateTemp(dir, "."+name+".*")
	if err != nil {
		return fmt.Errorf("writing %s: %w", name, err)
	}
	defer os.Remove(tmp.Name()) // a no-op after the rename
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return fmt.Errorf("writing %s: %w", name, err)
	}
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return fmt.Errorf("writing %s: %w", name, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("writing %s: %w", name, err)
	}
	if err := os.Rename(tmp.Name(), filepath.Join(dir, name)); err != nil {
		return fmt.Errorf("writing %s: %w", name, err)
	}
	return nil
}
