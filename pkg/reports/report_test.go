package reports

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

func TestBuildSortsCountsAndCaps(t *testing.T) {
	since := time.Unix(1796000000, 0)
	results := []Result{
		{Rule: "nginx-http11", Action: "warn", APIVersion: "v1", Kind: "ConfigMap", Namespace: "app", Name: "lua", Message: "cannot analyse", Since: since},
		{Rule: "ingress-in-mesh", Action: "deny", APIVersion: "networking.k8s.io/v1", Kind: "Ingress", Namespace: "app", Name: "web", Message: "denied", Since: since},
		{Rule: "nginx-http11", Action: "change", APIVersion: "v1", Kind: "ConfigMap", Namespace: "app", Name: "conf", Message: "insert", Since: since},
	}
	r := build(WGPolicy, "app", results, nil)
	if r.GetKind() != "PolicyReport" || r.GetNamespace() != "app" || r.GetName() != Name || r.GetLabels()[ManagedByLabel] != "meshguard" {
		t.Fatalf("report header %v %s/%s %v", r.GroupVersionKind(), r.GetNamespace(), r.GetName(), r.GetLabels())
	}
	list, _, _ := unstructured.NestedSlice(r.Object, "results")
	var got []string
	for _, x := range list {
		m := x.(map[string]any)
		got = append(got, fmt.Sprintf("%s/%s %s %s", m["resources"].([]any)[0].(map[string]any)["kind"], m["resources"].([]any)[0].(map[string]any)["name"], m["result"], m["severity"]))
	}
	want := "ConfigMap/conf fail medium,ConfigMap/lua warn low,Ingress/web fail high"
	if strings.Join(got, ",") != want {
		t.Errorf("results %v, want %s", got, want)
	}
	summary, _, _ := unstructured.NestedMap(r.Object, "summary")
	if summary["fail"] != int64(2) || summary["warn"] != int64(1) || summary["pass"] != int64(0) {
		t.Errorf("summary %v, want fail 2, warn 1", summary)
	}
	if _, ok := r.Object["source"]; ok {
		t.Error("a wgpolicyk8s.io report carries a top-level source, which its schema does not have")
	}
	if build(OpenReports, "", results, nil).GetKind() != "ClusterReport" || build(OpenReports, "app", nil, nil).Object["source"] != Source {
		t.Error("openreports.io: wrong kind for cluster scope or no source")
	}

	many := make([]Result, MaxResults+5)
	for i := range many {
		many[i] = Result{Rule: "nginx-http11", Action: "change", Kind: "ConfigMap", Name: fmt.Sprintf("cm-%05d", i), Since: since}
	}
	capped := build(WGPolicy, "app", many, nil)
	list, _, _ = unstructured.NestedSlice(capped.Object, "results")
	last := list[len(list)-1].(map[string]any)
	if len(list) != MaxResults+1 || last["result"] != "error" || !strings.Contains(last["message"].(string), "5 more findings") {
		t.Errorf("%d results, last %v; want %d and an error result counting the 5 left out", len(list), last, MaxResults+1)
	}
	if f, _, _ := unstructured.NestedInt64(capped.Object, "summary", "fail"); f != MaxResults {
		t.Errorf("summary.fail = %d, want %d (the listed results)", f, MaxResults)
	}
}
