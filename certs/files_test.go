package certs

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestWriteKeyPair(t *testing.T) {
	ca := newTestCA(t)
	certA, keyA := ca.issue(t, time.Now().Add(time.Hour))
	certB, keyB := ca.issue(t, time.Now().Add(2*time.Hour))
	tests := map[string]struct {
		before      [2][]byte // cert, key already in the directory
		cert, key   []byte
		wantWritten bool
		wantErr     bool
		want        [2][]byte // cert, key in the directory afterwards
	}{
		"an empty secret writes nothing":                        {cert: nil, key: nil},
		"a secret with a certificate but no key writes nothing": {cert: certA},
		"a first key pair is written":                           {cert: certA, key: keyA, wantWritten: true, want: [2][]byte{certA, keyA}},
		"the same key pair again is not rewritten":              {before: [2][]byte{certA, keyA}, cert: certA, key: keyA, want: [2][]byte{certA, keyA}},
		"a rotated key pair replaces the old one":               {before: [2][]byte{certA, keyA}, cert: certB, key: keyB, wantWritten: true, want: [2][]byte{certB, keyB}},
		"a certificate with another key's pair is refused and the old pair kept": {
			before: [2][]byte{certA, keyA}, cert: certB, key: keyA, wantErr: true, want: [2][]byte{certA, keyA},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			if tc.before[0] != nil {
				writeFile(t, dir, CertFile, tc.before[0])
				writeFile(t, dir, KeyFile, tc.before[1])
			}
			written, err := writeKeyPair(dir, tc.cert, tc.key)
			if (err != nil) != tc.wantErr || written != tc.wantWritten {
				t.Fatalf("writeKeyPair() = %v, %v; want written %v, error %v", written, err, tc.wantWritten, tc.wantErr)
			}
			for i, name := range []string{CertFile, KeyFile} {
				got, _ := os.ReadFile(filepath.Join(dir, name))
				if string(got) != string(tc.want[i]) {
					t.Errorf("%s afterwards = %.40q…, want %.40q…", name, got, tc.want[i])
				}
			}
			entries, _ := os.ReadDir(dir)
			for _, e := range entries {
				if e.Name() != CertFile && e.Name() != KeyFile {
					t.Errorf("left behind %s", e.Name())
				}
				if info, err := e.Info(); err == nil && info.Mode().Perm()&0o077 != 0 && written {
					t.Errorf("%s has mode %v, want no access for group and others", e.Name(), info.Mode().Perm())
				}
			}
		})
	}
}

func writeFile(t testing.TB, dir, name string, data []byte) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, name), data, 0o600); err != nil {
		t.Fatal(err)
	}
}
