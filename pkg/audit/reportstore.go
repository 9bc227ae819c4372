package audit

import (
	"slices"

	"github.com/meshguard/meshguard/pkg/reports"
)

// takeDirty returns the namespaces whose findings changed since the last
// call, and forgets them.
func (s *store) takeDirty() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]string, 0, len(s.dirty))
	for ns := range s.dirty {
		out = append(out, ns)
	}
	clear(s.dirty)
	slices.Sort(out)
	return out
}

// markDirty asks for namespaces' reports to be written again (all
// namespaces with findings when none are named).
func (s *store) markDirty(namespaces ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(namespaces) == 0 {
		for ref := range s.objects {
			s.dirty[ref.Namespace] = struct{}{}
		}
	}
	for _, ns := range namespaces {
		s.dirty[ns] = struct{}{}
	}
}

// namespaces lists the namespaces holding objects with findings.
func (s *store) namespaces() map[string]bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string]bool{}
	for ref := range s.objects {
		out[ref.Namespace] = true
	}
	return out
}

// results are the findings of the namespaces nss as report results, by
// namespace, in one pass over the store; apiVersion names the API version
// of each audited kind. A namespace without findings maps to none.
func (s *store) results(nss []string, apiVersion func(kind string) string) map[string][]reports.Result {
	want := make(map[string]bool, len(nss))
	for _, ns := range nss {
		want[ns] = true
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string][]reports.Result, len(nss))
	for ref, fs := range s.objects {
		if !want[ref.Namespace] {
			continue
		}
		for _, f := range fs {
			out[ref.Namespace] = append(out[ref.Namespace], reports.Result{
				Rule: f.Rule, Action: f.Severity, APIVersion: apiVersion(ref.Kind), Kind: ref.Kind,
				Namespace: ref.Namespace, Name: ref.Name, Message: f.Message, Since: f.Since,
			})
		}
	}
	return out
}
