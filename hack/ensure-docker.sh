#!/usr/bin/env bash
# Makes sure a Docker daemon answers. When `docker info` already works it does
# nothing; otherwise it installs Debian's docker.io (non-interactively, as
# root) and starts dockerd in the background, falling back to storage drivers
# that work inside containers and other restricted hosts, and waits for it.
#
#   hack/ensure-docker.sh        exit 0 once `docker info` answers
set -euo pipefail

log=/tmp/dockerd.log
deadline_seconds=60

answers() { docker info >/dev/null 2>&1; }

if command -v docker >/dev/null 2>&1 && answers; then
  exit 0
fi

if [[ "$(id -u)" != 0 ]]; then
  sudo_cmd=(sudo -n)
else
  sudo_cmd=()
fi

if ! command -v dockerd >/dev/null 2>&1; then
  echo "ensure-docker: installing docker.io" >&2
  export DEBIAN_FRONTEND=noninteractive
  "${sudo_cmd[@]}" apt-get update -qq
  "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends docker.io >/dev/null
fi

# wait_for_daemon PID: true once docker info answers, false when dockerd
# exits or the deadline passes.
wait_for_daemon() {
  local pid=$1 end=$((SECONDS + deadline_seconds))
  while ((SECONDS < end)); do
    answers && return 0
    kill -0 "$pid" 2>/dev/null || return 1
    sleep 0.5
  done
  return 1
}

# Try the default driver first, then ones that work without overlayfs
# support (nested containers, some CI hosts).
drivers=("")
command -v fuse-overlayfs >/dev/null 2>&1 && drivers+=("fuse-overlayfs")
drivers+=("vfs")

for driver in "${drivers[@]}"; do
  args=()
  [[ -n "$driver" ]] && args+=("--storage-driver=$driver")
  echo "ensure-docker: starting dockerd ${args[*]:-(default storage driver)}" >&2
  : >"$log"
  nohup "${sudo_cmd[@]}" dockerd "${args[@]}" >"$log" 2>&1 &
  pid=$!
  if wait_for_daemon "$pid"; then
    echo "ensure-docker: docker is up (dockerd pid $pid, log $log)" >&2
    exit 0
  fi
  if kill -0 "$pid" 2>/dev/null; then
    echo "ensure-docker: dockerd did not answer within ${deadline_seconds}s" >&2
    break
  fi
  echo "ensure-docker: dockerd ${args[*]:-} exited; last lines of $log:" >&2
  tail -n 20 "$log" >&2 || true
  # A dead daemon may leave its pid file behind, which stops the next try.
  "${sudo_cmd[@]}" rm -f /var/run/docker.pid
done

echo "ensure-docker: no Docker daemon answers; last lines of $log:" >&2
tail -n 40 "$log" >&2 || true
exit 1
