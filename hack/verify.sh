#!/usr/bin/env bash
# Static checks CI runs before the tests: formatting, vet, tidy modules and
# current generated code.
set -euo pipefail
cd "$(dirname "$0")/.."
unformatted="$(gofmt -l $(git ls-files '*.go'))"
if [[ -n "$unformatted" ]]; then
  echo "gofmt needed on:" >&2
  echo "$unformatted" >&2
  exit 1
fi
go vet ./...
cp go.mod go.sum "$(mktemp -d)/" 2>/dev/null || true
before="$(cat go.mod go.sum | sha256sum)"
go mod tidy
after="$(cat go.mod go.sum | sha256sum)"
if [[ "$before" != "$after" ]]; then
  git --no-pager diff -- go.mod go.sum >&2 || true
  echo "go.mod/go.sum are not tidy: run go mod tidy" >&2
  exit 1
fi
bash hack/verify-codegen.sh
echo "verify: ok"
