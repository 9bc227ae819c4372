package yamlpatch

import (
	"encoding/json"
	"fmt"
	"strings"

	"go.yaml.in/yaml/v3"
	sigsyaml "sigs.k8s.io/yaml"
)

// twoWayKey finds a mapping holding two keys written differently that
// kubectl's YAML 1.1 reads as the same JSON key (n and "false", 1.0 and
// "1"): which value wins then depends on map order, so the document has no
// single reading to patch or to prove.
func (e *editor) twoWayKey() error {
	var err error
	var walk func(n *yaml.Node)
	walk = func(n *yaml.Node) {
		if n.Kind == yaml.MappingNode {
			seen := map[string]*yaml.Node{}
			for _, k := range mappingKeys(n, 0) {
				read := e.keyReading(k)
				if other, ok := seen[read]; ok && keyIdentity(other) != keyIdentity(k) && err == nil {
					err = fmt.Errorf("line %d: the keys %q and %q of one mapping both read as %q in YAML 1.1, so the document reads two ways", k.Line, other.Value, k.Value, read)
				}
				seen[read] = k
			}
		}
		for _, c := range n.Content {
			walk(c)
		}
	}
	walk(e.root)
	return err
}

// mappingKeys lists the scalar keys of a mapping, with those it merges in
// through "<<".
func mappingKeys(m *yaml.Node, depth int) []*yaml.Node {
	var keys []*yaml.Node
	for i := 0; i+1 < len(m.Content); i += 2 {
		k, v := m.Content[i], m.Content[i+1]
		if k.Kind != yaml.ScalarNode {
			continue
		}
		if k.Value != "<<" || k.Tag != "!!merge" {
			keys = append(keys, k)
			continue
		}
		sources := []*yaml.Node{v}
		if v.Kind == yaml.SequenceNode {
			sources = v.Content
		}
		for _, s := range sources {
			if s.Kind == yaml.AliasNode && s.Alias != nil && s.Alias.Kind == yaml.MappingNode && depth < 8 {
				keys = append(keys, mappingKeys(s.Alias, depth+1)...)
			}
		}
	}
	return keys
}

// keyIdentity tells keys apart as YAML 1.1 types them: a plain key may read
// as a boolean, number or null, a quoted or tagged one is a string.
func keyIdentity(k *yaml.Node) string {
	if k.Style&^yaml.FlowStyle == 0 {
		return "plain " + k.Value
	}
	return "string " + k.Value
}

// yaml11Words are the plain scalars YAML 1.1 reads as booleans or null
// (in one of their spellings); other words starting with a letter are
// strings.
var yaml11Words = map[string]bool{"y": true, "n": true, "yes": true, "no": true, "on": true, "off": true,
	"true": true, "false": true, "null": true}

// keyReading is the JSON key kubectl's YAML 1.1 makes of a mapping key.
func (e *editor) keyReading(k *yaml.Node) string {
	id := keyIdentity(k)
	if !strings.HasPrefix(id, "plain ") || k.Value == "" {
		return k.Value
	}
	if c := k.Value[0]; (c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z') && !yaml11Words[strings.ToLower(k.Value)] {
		return k.Value
	}
	if read, ok := e.keyReadings[id]; ok {
		return read
	}
	read := id // unreadable alone: it then matches no other key
	if j, err := sigsyaml.YAMLToJSON([]byte(k.Value + ": 0")); err == nil {
		var m map[string]json.RawMessage
		if json.Unmarshal(j, &m) == nil && len(m) == 1 {
			for key := range m {
				read = key
			}
		}
	}
	if e.keyReadings == nil {
		e.keyReadings = map[string]string{}
	}
	e.keyReadings[id] = read
	return read
}
