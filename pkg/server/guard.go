package server

import (
	"crypto/tls"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strings"
)

// guard serves a request only when its path is exactly a registered one, as
// sent: http.ServeMux would answer /x/../validate, //validate and the like
// with a redirect to the clean path, which tells a prober what is there and
// sends a client that follows it to a path it did not ask for.
type guard struct {
	next  http.Handler
	paths map[string]bool
	names string // the paths, for the error message
}

func newGuard(next http.Handler, paths []string) *guard {
	g := &guard{next: next, paths: map[string]bool{}}
	for _, p := range paths {
		g.paths[p] = true
	}
	paths = slices.Sorted(maps.Keys(g.paths))
	g.names = strings.Join(paths, " and ")
	return g
}

func (g *guard) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	// EscapedPath is the path as sent: /%76alidate is not /validate either.
	path := r.URL.EscapedPath()
	if g.paths[path] {
		g.next.ServeHTTP(w, r)
		return
	}
	if len(path) > 200 {
		path = path[:200] + "…"
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusNotFound)
	_ = json.NewEncoder(w).Encode(map[string]string{
		"error": fmt.Sprintf("meshguard: no webhook at %q: the webhooks are %s", path, g.names),
	})
}

// tls12Suites are the TLS 1.2 cipher suites the webhook accepts: ECDHE key
// exchange (forward secrecy) with AEAD encryption, the suites Kubernetes'
// own components negotiate. No CBC, no SHA-1 MAC, no RSA key exchange.
// TLS 1.3 suites are fixed by Go and all AEAD.
var tls12Suites = []uint16{
	tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
	tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256, // required by HTTP/2
	tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
	tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
	tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
	tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
}

// SecureTLS raises c to TLS 1.2 or later and, for TLS 1.2, to tls12Suites.
// It only ever narrows: a higher minimum version or a subset of the suites
// set before it stays.
func SecureTLS(c *tls.Config) {
	if c.MinVersion < tls.VersionTLS12 {
		c.MinVersion = tls.VersionTLS12
	}
	if len(c.CipherSuites) == 0 {
		c.CipherSuites = slices.Clone(tls12Suites)
		return
	}
	c.CipherSuites = slices.DeleteFunc(slices.Clone(c.CipherSuites), func(s uint16) bool {
		return !slices.Contains(tls12Suites, s)
	})
	if len(c.CipherSuites) == 0 {
		// Nothing acceptable was asked for; an empty list would mean Go's defaults.
		c.CipherSuites = slices.Clone(tls12Suites)
	}
}
