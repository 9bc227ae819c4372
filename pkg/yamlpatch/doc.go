// Package yamlpatch writes JSON patch operations into the text of one YAML
// (or JSON) document, changing only the bytes of the values that change:
// comments, key order, quoting, indentation and blank lines elsewhere stay as
// they were. It knows YAML's block and flow styles, block scalars, quoting
// (with YAML 1.1's readings, which kubectl's parser has) and the document's
// own indentation, and it proves every result by reading it back against the
// patch applied by a JSON patch library. It does not know Kubernetes or
// meshguard, does not edit through anchors, aliases or merge keys, and does
// not write move, copy or test: such an operation fails with an error naming
// it rather than guess.
package yamlpatch
