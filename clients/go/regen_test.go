package sluice

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// The committed internal/pb/sluice.pb.go is what regen.sh makes from the .proto today.
func TestGeneratedCodeIsCurrent(t *testing.T) {
	out := t.TempDir()
	cmd := exec.Command("bash", "regen.sh", out)
	if msg, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("regen.sh: %v\n%s", err, msg)
	}
	fresh, err := os.ReadFile(filepath.Join(out, "sluice.pb.go"))
	if err != nil {
		t.Fatal(err)
	}
	committed, err := os.ReadFile(filepath.Join("internal", "pb", "sluice.pb.go"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(fresh, committed) {
		t.Fatal("internal/pb/sluice.pb.go is stale: run clients/go/regen.sh and commit the result")
	}
}
