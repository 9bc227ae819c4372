// Package check runs meshguard's admission rules offline, on manifests in
// files, the way `webhook check` does: every object is reviewed as a CREATE by
// the same engine and the same rules as the server, against a cluster made of
// the Namespaces and IngressClasses found in the input (plus command-line
// labels). It reports findings as text, JSON or JUnit, and can write the
// mutating rules' changes back into the manifests with pkg/yamlpatch's
// minimal text edits.
package check
