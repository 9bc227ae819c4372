package main

import (
	"context"
	"fmt"
	"io"
	"reflect"
	"sort"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// checkPolicies compares the compiled objects with the cluster's: each must
// exist, hold every field meshguard writes with the same value (the API
// server's defaults may add more), and a policy must have no type-checking
// warnings. It prints one line per object and reports whether all are in
// place.
func checkPolicies(ctx context.Context, c client.Reader, want []*unstructured.Unstructured, out io.Writer) (bool, error) {
	ok := true
	for _, w := range want {
		have := &unstructured.Unstructured{}
		have.SetGroupVersionKind(w.GroupVersionKind())
		err := c.Get(ctx, client.ObjectKeyFromObject(w), have)
		what := w.GetKind() + " " + w.GetName()
		if w.GetNamespace() != "" {
			what = w.GetKind() + " " + w.GetNamespace() + "/" + w.GetName()
		}
		switch {
		case apierrors.IsNotFound(err):
			ok = false
			fmt.Fprintf(out, "%s: missing (is meshguard running with --compiled-rules, and its leader ready?)\n", what)
			continue
		case err != nil:
			return false, fmt.Errorf("reading %s: %w", what, err)
		}
		field := "spec"
		if w.GetKind() == "ConfigMap" {
			// The parameters follow the cluster's IngressClasses, which
			// an offline compile does not know: only their presence counts.
			data, _, _ := unstructured.NestedStringMap(have.Object, "data")
			fmt.Fprintf(out, "%s: present (%d IngressClasses)\n", what, len(data))
			continue
		}
		if path, differs := firstDifference(w.Object[field], have.Object[field], field); differs {
			ok = false
			fmt.Fprintf(out, "%s: differs from what meshguard compiles at %s (edited, or another version or flags wrote it)\n", what, path)
			continue
		}
		warnings, _, _ := unstructured.NestedSlice(have.Object, "status", "typeChecking", "expressionWarnings")
		if len(warnings) > 0 {
			ok = false
			fmt.Fprintf(out, "%s: the API server's type check warns: %v\n", what, warnings)
			continue
		}
		fmt.Fprintf(out, "%s: in place\n", what)
	}
	return ok, nil
}

// firstDifference returns the path of the first value of want that have
// lacks or holds differently; maps in have may hold more keys (defaults).
func firstDifference(want, have any, path string) (string, bool) {
	switch w := want.(type) {
	case map[string]any:
		h, ok := have.(map[string]any)
		if !ok {
			return path, true
		}
		keys := make([]string, 0, len(w))
		for k := range w {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			if p, d := firstDifference(w[k], h[k], path+"."+k); d {
				return p, true
			}
		}
		return "", false
	case []any:
		h, ok := have.([]any)
		if !ok || len(h) != len(w) {
			return path, true
		}
		for i := range w {
			if p, d := firstDifference(w[i], h[i], fmt.Sprintf("%s[%d]", path, i)); d {
				return p, true
			}
		}
		return "", false
	}
	return path, !reflect.DeepEqual(want, have)
}
