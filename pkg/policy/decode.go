package policy

import (
	jsonv2 "github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"
)

// Unmarshal decodes JSON the way every admission path of meshguard does: in
// a single pass with encoding/json/v2 (github.com/go-json-experiment/json
// mirrors it until Go 1.27 ships it), which validates and decodes at once
// and skips unwanted fields without building them, where encoding/json scans
// every value twice. Field names match exactly, as in the API server's own
// decoder. Duplicate names and invalid UTF-8 are accepted as encoding/json
// and the API server accept them, so no object is refused here that the
// cluster stores.
func Unmarshal(data []byte, v any) error {
	return jsonv2.Unmarshal(data, v, decodeOptions)
}

var decodeOptions = jsonv2.JoinOptions(
	jsontext.AllowDuplicateNames(true),
	jsontext.AllowInvalidUTF8(true),
)
