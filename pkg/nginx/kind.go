package nginx

// kind is what nginx context a block is, as far as proxy_http_version goes.
type kind uint8

const (
	kindMain kind = iota
	kindHTTP
	kindServer
	kindLocation
	kindIf          // if inside a location: inherits from it, cannot hold the directive
	kindLimitExcept // same
	kindOther       // stream, upstream, events, mail, map-like bodies, if in server: never ours
	kindUnknown     // a block this analysis does not know
)

// rootKind infers the context a value is written for: a full nginx.conf, a
// conf.d snippet of server blocks, a server-level snippet of locations, or a
// location-level list of directives.
func rootKind(f *file) kind {
	k := kindLocation
	proxy := false
	for c := int32(0); c < int32(len(f.nodes)); c = f.nodes[c].end {
		switch f.nodes[c].name {
		case "http", "events", "stream", "mail":
			return kindMain
		case "server", "upstream":
			k = kindHTTP
		case "proxy_pass":
			proxy = true
		case "location", "listen", "server_name":
			if k == kindLocation {
				k = kindServer
			}
		}
	}
	if k == kindServer && proxy {
		return kindLocation
	}
	return k
}

// childKind is the kind of a block named name inside a block of kind parent.
func childKind(parent kind, name string) kind {
	switch {
	case parent == kindMain && name == "http":
		return kindHTTP
	case parent == kindMain && (name == "stream" || name == "events" || name == "mail"):
		return kindOther
	case parent == kindHTTP && name == "server":
		return kindServer
	case parent == kindHTTP && name == "upstream":
		return kindOther
	case (parent == kindServer || parent == kindLocation) && name == "location":
		return kindLocation
	case parent == kindServer && name == "if":
		return kindOther
	case parent == kindLocation && name == "if":
		return kindIf
	case parent == kindLocation && name == "limit_except":
		return kindLimitExcept
	case parent != kindIf && parent != kindLimitExcept && mapLike(name):
		return kindOther
	}
	return kindUnknown
}

// label names the block of s for messages.
func label(s *scope) string {
	switch {
	case s.node >= 0 && (s.kind == kindIf || s.kind == kindLimitExcept) && s.parent != nil:
		return s.f.label(s.node) + " in " + label(s.parent)
	case s.node >= 0:
		return s.f.label(s.node)
	case s.kind == kindLocation:
		return "a location-level snippet"
	}
	return "the top level"
}
