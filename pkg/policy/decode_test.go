package policy

import (
	"encoding/json"
	"reflect"
	"testing"
)

// TestUnmarshalAgreesWithTheAPIServer pins the decoder's semantics where
// encoding/json/v2 and encoding/json differ: names match exactly (as in the
// API server's decoder, so a "Metadata" key is not metadata), while duplicate
// names and invalid UTF-8, which encoding/json accepts, are still accepted.
func TestUnmarshalAgreesWithTheAPIServer(t *testing.T) {
	type doc struct {
		ObjectHead
		Data map[string]string `json:"data"`
	}
	tests := map[string]struct {
		in   string
		want doc
	}{
		"unknown fields are skipped": {
			in:   `{"apiVersion":"v1","metadata":{"name":"a","managedFields":[{"manager":"m","fieldsV1":{"f:data":{}}}]},"data":{"k":"v"},"binaryData":{"b":"AA=="}}`,
			want: doc{ObjectHead{Meta{Name: "a"}}, map[string]string{"k": "v"}},
		},
		"names match exactly": {
			in:   `{"Metadata":{"name":"a"},"DATA":{"k":"v"}}`,
			want: doc{},
		},
		"the last of duplicate names wins": {
			in:   `{"metadata":{"name":"a","name":"b"}}`,
			want: doc{ObjectHead: ObjectHead{Meta{Name: "b"}}},
		},
		"invalid UTF-8 is accepted": {
			in:   "{\"data\":{\"k\":\"\xff\"}}",
			want: doc{Data: map[string]string{"k": "\ufffd"}},
		},
		"null leaves fields unset": {
			in:   `{"metadata":null,"data":null}`,
			want: doc{},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			var got doc
			if err := Unmarshal([]byte(tc.in), &got); err != nil {
				t.Fatalf("Unmarshal: %v", err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got %+v, want %+v", got, tc.want)
			}
		})
	}
}

// TestUnmarshalRejectsWhatEncodingJSONRejects: malformed JSON and type
// mismatches stay errors (the webhook answers them with a 4xx).
func TestUnmarshalRejectsWhatEncodingJSONRejects(t *testing.T) {
	for _, in := range []string{`{"data":`, `{"data":{"k":1}}`, `{"metadata":{"labels":[]}}`, `{"data":{}} trailing`, ``} {
		var v, v1 struct {
			ObjectHead
			Data map[string]string `json:"data"`
		}
		if err := Unmarshal([]byte(in), &v); err == nil {
			t.Errorf("Unmarshal(%q) succeeded, want an error", in)
		}
		if err := json.Unmarshal([]byte(in), &v1); err == nil {
			t.Errorf("encoding/json accepts %q: the case does not show a shared rejection", in)
		}
	}
}
