#!/usr/bin/env bash
# Fails when the generated deepcopy code is not what hack/update-codegen.sh
# produces from the current types.
set -euo pipefail
cd "$(dirname "$0")/.."
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
mapfile -t generated < <(git ls-files '*zz_generated.deepcopy.go'; find . -name 'zz_generated.deepcopy.go' -not -path './.git/*' | sed 's|^\./||')
for f in $(printf '%s\n' "${generated[@]}" | sort -u); do
  mkdir -p "$tmp/$(dirname "$f")"
  cp "$f" "$tmp/$f"
done
bash hack/update-codegen.sh
status=0
for f in $(printf '%s\n' "${generated[@]}" | sort -u); do
  if ! diff -u "$tmp/$f" "$f"; then
    echo "$f is stale: run hack/update-codegen.sh" >&2
    status=1
  fi
done
exit $status
