package check

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// MaxFileBytes bounds one input. Manifests are far smaller; anything larger is
// almost certainly not a manifest (a binary, a log) and would only cost memory.
const MaxFileBytes = 32 << 20

// StdinName is how input read from "-" is named in reports.
const StdinName = "<stdin>"

// Input is one file as read.
type Input struct {
	// Name is how the file is reported: the path as given or found, or StdinName.
	Name string
	// Path is where --fix --in-place writes; empty for stdin.
	Path string
	Data []byte
}

// manifestExt reports whether a file found in a folder is read: files named
// explicitly are read whatever their extension.
func manifestExt(name string) bool {
	switch strings.ToLower(filepath.Ext(name)) {
	case ".yaml", ".yml", ".json":
		return true
	}
	return false
}

// ReadPaths reads files, folders (recursively, *.yaml, *.yml and *.json, in
// lexical order, skipping hidden folders such as .git) and "-" (stdin), in the
// order given.
func ReadPaths(paths []string, stdin io.Reader) ([]Input, error) {
	var out []Input
	seen := map[string]bool{}
	for _, p := range paths {
		if p == "-" {
			data, err := readLimited(stdin, StdinName)
			if err != nil {
				return nil, err
			}
			out = append(out, Input{Name: StdinName, Data: data})
			continue
		}
		files, err := expand(p)
		if err != nil {
			return nil, err
		}
		for _, f := range files {
			if seen[filepath.Clean(f)] {
				continue
			}
			seen[filepath.Clean(f)] = true
			in, err := readFile(f)
			if err != nil {
				return nil, err
			}
			out = append(out, in)
		}
	}
	return out, nil
}

// expand lists the manifest files behind one -f argument.
func expand(p string) ([]string, error) {
	st, err := os.Stat(p)
	if err != nil {
		return nil, fmt.Errorf("-f %s: %w", p, unwrapPath(err))
	}
	if !st.IsDir() {
		return []string{p}, nil
	}
	var files []string
	err = filepath.WalkDir(p, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if path != p && strings.HasPrefix(d.Name(), ".") {
				return filepath.SkipDir
			}
			return nil
		}
		if d.Type().IsRegular() && manifestExt(path) {
			files = append(files, path)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("-f %s: %w", p, err)
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("-f %s: the folder holds no *.yaml, *.yml or *.json files; point -f at the manifests", p)
	}
	return files, nil
}

func readFile(path string) (Input, error) {
	f, err := os.Open(path)
	if err != nil {
		return Input{}, fmt.Errorf("%s: %w", path, unwrapPath(err))
	}
	defer f.Close()
	data, err := readLimited(f, path)
	if err != nil {
		return Input{}, err
	}
	return Input{Name: path, Path: path, Data: data}, nil
}

// readLimited never holds more than MaxFileBytes+1 bytes of one input.
func readLimited(r io.Reader, name string) ([]byte, error) {
	data, err := io.ReadAll(io.LimitReader(r, MaxFileBytes+1))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	if len(data) > MaxFileBytes {
		return nil, fmt.Errorf("%s: %w", name, errTooLarge())
	}
	return data, nil
}

func errTooLarge() error {
	return fmt.Errorf("the file is larger than %d MiB, the limit for one input: manifests are far smaller, so this is probably not one; split it or leave it out", MaxFileBytes>>20)
}

// unwrapPath drops the *PathError wrapper, whose path the message already names.
func unwrapPath(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}
