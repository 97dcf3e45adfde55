#!/usr/bin/env bash
# Regenerates internal/pb/sluice.pb.go from Proto/sluice/v1/sluice.proto with protoc and
# protoc-gen-go (Debian: protobuf-compiler, protoc-gen-go). The result is committed;
# TestGeneratedCodeIsCurrent fails when it is stale.
# Usage: regen.sh [OUTPUT_DIR]   (default: write into internal/pb; the test passes a temp dir)
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
out=${1:-$here/internal/pb}

for tool in protoc protoc-gen-go; do
  if ! command -v "$tool" >/dev/null 2>&1; then
    echo "regen.sh: $tool not found (Debian: apt-get install protobuf-compiler protoc-gen-go)" >&2
    exit 1
  fi
done

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# The .proto has no go_package option (it is shared with the C and Swift code), so the
# Go package is given here with M; paths=source_relative keeps the output file flat.
protoc -I "$repo/Proto" \
  --go_out="$tmp" \
  --go_opt=paths=source_relative \
  --go_opt=Msluice/v1/sluice.proto=sluice/clients/go/internal/pb \
  sluice/v1/sluice.proto
mkdir -p "$out"
cp "$tmp/sluice/v1/sluice.pb.go" "$out/sluice.pb.go"
