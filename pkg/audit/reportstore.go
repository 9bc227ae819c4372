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

// results are namespace ns's findings as report results; apiVersion names
// the API version of each audited kind.
func (s *store) results(ns string, apiVersion func(kind string) string) []reports.Result {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []reports.Result
	for ref, fs := range s.objects {
		if ref.Namespace != ns {
			continue
		}
		for _, f := range fs {
			out = append(out, reports.Result{
				Rule: f.Rule, Action: f.Severity, APIVersion: apiVersion(ref.Kind), Kind: ref.Kind,
				Namespace: ref.Namespace, Name: ref.Name, Message: f.Message, Since: f.Since,
			})
		}
	}
	return out
}
