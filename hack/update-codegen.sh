#!/usr/bin/env bash
# Regenerates deepcopy functions for every package tagged +k8s:deepcopy-gen.
set -euo pipefail
cd "$(dirname "$0")/.."
go tool deepcopy-gen \
  --go-header-file hack/boilerplate.go.txt \
  --output-file zz_generated.deepcopy.go \
  ./apis/v1 ./controller
