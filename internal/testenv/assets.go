// Package testenv finds the control-plane binaries tests in the webhook's
// own module run envtest on.
package testenv

import (
	"os"
	"path/filepath"
	"slices"
)

// KubebuilderAssets is $KUBEBUILDER_ASSETS, else the newest envtest directory
// hack/tools/build.sh left in its cache (any recent kube-apiserver will do),
// else "". It never builds: a cold build takes longer than a unit test may,
// so `make unit` builds first and exports KUBEBUILDER_ASSETS.
func KubebuilderAssets() string {
	if dir := os.Getenv("KUBEBUILDER_ASSETS"); dir != "" {
		return dir
	}
	cache := os.Getenv("XDG_CACHE_HOME")
	if cache == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			return ""
		}
		cache = filepath.Join(home, ".cache")
	}
	dirs, _ := filepath.Glob(filepath.Join(cache, "meshguard", "bin", "envtest-*", "kube-apiserver"))
	if len(dirs) == 0 {
		return ""
	}
	slices.Sort(dirs)
	return filepath.Dir(dirs[len(dirs)-1])
}
