// Package srcdigest recomputes, without Node, the digest a committed
// JavaScript build names in its banner (client/scripts/digest.mjs), so
// that a Go test fails when the build is stale: SHA-256 over each source
// file's path (relative to a base directory, '/'-separated), a NUL, its
// bytes and a NUL, sorted by path.
package srcdigest

import (
	"crypto/sha256"
	"encoding/hex"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// Of returns the digest of files and of every file below each of dirs, all
// relative to base ('/'-separated), as client/scripts/digest.mjs computes it.
func Of(t testing.TB, base string, files, dirs []string) string {
	t.Helper()
	all := slices.Clone(files)
	for _, dir := range dirs {
		err := filepath.WalkDir(filepath.Join(base, filepath.FromSlash(dir)), func(path string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			rel, err := filepath.Rel(base, path)
			all = append(all, filepath.ToSlash(rel))
			return err
		})
		if err != nil {
			t.Fatalf("listing %s: %v", dir, err)
		}
	}
	slices.Sort(all) // Go sorts strings by byte, as digest.mjs by code unit: the paths are ASCII
	h := sha256.New()
	for _, f := range all {
		b, err := os.ReadFile(filepath.Join(base, filepath.FromSlash(f)))
		if err != nil {
			t.Fatal(err)
		}
		h.Write([]byte(f))
		h.Write([]byte{0})
		h.Write(b)
		h.Write([]byte{0})
	}
	return hex.EncodeToString(h.Sum(nil))
}
