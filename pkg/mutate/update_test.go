package mutate

import "flag"

// update rewrites golden files from the results (go test ./pkg/mutate -update);
// every golden test of this package passes it to golden.Run.
var update = flag.Bool("update", false, "rewrite testdata/*/*.golden.yaml from the results")
