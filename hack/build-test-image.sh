#!/usr/bin/env bash
# Builds cubelet's test workload image (hack/workload in a FROM scratch image)
# into the local Docker daemon; no registry is needed or used.
#
#   hack/build-test-image.sh [TAG]     (default cubelet-workload:latest)
#
# Idempotent and fast when nothing changed: a stamp file in the user's cache
# records the binary's sha256 and the image ID built from it, and docker
# build is skipped while TAG still names that image. (A label on the image
# would do the same, but containers inherit image labels and cubelet's
# tests compare container labels.)
set -euo pipefail

tag="${1:-cubelet-workload:latest}"
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

ctx="$(mktemp -d "${TMPDIR:-/tmp}/cubelet-workload.XXXXXX")"
trap 'rm -rf "$ctx"' EXIT

(cd "$root" && CGO_ENABLED=0 GOOS=linux go build -trimpath -buildvcs=false \
  -ldflags '-s -w' -o "$ctx/workload" ./hack/workload)

sum="$(sha256sum "$ctx/workload" | cut -d' ' -f1)"
stamp_dir="${XDG_CACHE_HOME:-${HOME:-/tmp}/.cache}/cubelet"
stamp="$stamp_dir/test-image-$(printf '%s' "$tag" | sha256sum | cut -c1-16)"
image_id() { docker image inspect --format '{{.Id}}' "$tag" 2>/dev/null || true; }
if [[ -f "$stamp" && "$(cat "$stamp")" == "$sum $(image_id)" ]]; then
  echo "$tag is up to date (workload sha256 ${sum:0:12})"
  exit 0
fi

cat >"$ctx/Dockerfile" <<DOCKERFILE
FROM scratch
COPY workload /workload
EXPOSE 8080
ENTRYPOINT ["/workload"]
CMD ["--listen", ":8080"]
DOCKERFILE

# The classic builder needs nothing beyond the daemon; BuildKit needs the
# buildx plugin, which many hosts lack.
if ! docker buildx version >/dev/null 2>&1; then
  export DOCKER_BUILDKIT=0
fi
if ! docker build --quiet -t "$tag" "$ctx" >"$ctx/build.log" 2>&1; then
  cat "$ctx/build.log" >&2
  echo "docker build of $tag failed" >&2
  exit 1
fi
mkdir -p "$stamp_dir"
printf '%s %s' "$sum" "$(image_id)" >"$stamp"
echo "built $tag (workload sha256 ${sum:0:12})"
