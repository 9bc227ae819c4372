package audit

import "testing"

func TestPassCompletesWhenEveryListedObjectWasEvaluated(t *testing.T) {
	completed := 0
	p := &pass{complete: func() { completed++ }}
	a, b, c := Ref{Kind: "Ingress", Name: "a"}, Ref{Kind: "Ingress", Name: "b"}, Ref{Kind: "ConfigMap", Name: "c"}

	p.begin()
	p.finish(a) // an event queued a before the listing
	p.expect([]Ref{a, b, c})
	p.finish(b)
	if completed != 0 {
		t.Fatal("the pass completed with c not evaluated")
	}
	p.finish(Ref{Kind: "Namespace", Name: "x"}) // not part of the pass
	p.finish(c)
	if completed != 1 {
		t.Fatalf("completions = %d after every object was evaluated, want 1", completed)
	}
	p.finish(c) // a later event on c does not complete anything again
	if completed != 1 {
		t.Fatalf("completions = %d, want 1", completed)
	}

	p.begin()
	p.expect(nil) // nothing to audit: complete at once
	if completed != 2 {
		t.Fatalf("an empty pass did not complete: %d", completed)
	}

	p.begin()
	p.expect([]Ref{a})
	p.begin() // the next pass replaces an unfinished one
	p.expect([]Ref{b})
	p.finish(a)
	if completed != 2 {
		t.Fatal("an object of the abandoned pass completed the new one")
	}
	p.finish(b)
	if completed != 3 {
		t.Fatalf("completions = %d, want 3", completed)
	}
}
