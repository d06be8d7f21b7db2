#!/usr/bin/env bash
# Runs cubelet's benchmarks (hack/bench): converge and remove against raw
# Docker, reaction to killed containers, the controller in process, the API,
# start-up, and cubelets on one etcd (binding, converge on 3 nodes against 1,
# failover). Prints a table and writes docs/benchmarks.md. `make bench`
# builds the workload image and makes sure Docker runs before calling this.
#
# Environment (defaults in brackets):
#   BENCH_N        converge: tasks and raw containers [100]
#   BENCH_REACT    react: kills of each kind [30]
#   BENCH_TASKS    in process, list and start-up: stored tasks [10000]
#   BENCH_ROUNDS   converge: ABBA rounds, each raw, cubelet, cubelet, raw; 1 = raw, cubelet [3]
#   BENCH_INPROCESS_RUNS  in process: converges at BENCH_TASKS, median reported [3]
#   BENCH_BIG_TASKS       in process: one more converge at this count; 0 for none [50000]
#   BENCH_MORE_WORKERS    in process: one more converge with this many workers; 0 for none [32]
#   BENCH_CLUSTER_BIND       cluster: tasks bound over 3 nodes [1000]
#   BENCH_CLUSTER_FAILOVERS  cluster: node kills, the leader and another node in turn [10]
#   BENCH_CLUSTER_ROUNDS     cluster: converge (BENCH_N tasks) ABBA rounds of 1 node, 3, 3, 1 [2]
#   BENCH_ONLY     comma-separated sections: converge,react,startup,inprocess,api,cluster [all]
#   BENCH_OUT      report to write; empty for none [docs/benchmarks.md]
#   BENCH_QUICK=1  a CI-speed run: N=30, 10 kills, 1 round, 2000 tasks, cluster 200 binds,
#                  3 node kills and 1 converge round, no report
#
# It takes the Docker host lock the end-to-end tests take, and removes every
# container labelled io.cubelet.managed=true before and after: never run it
# against a Docker host whose cubelet-managed containers matter.
set -euo pipefail
cd "$(dirname "$0")/.."

if [[ "${BENCH_QUICK:-}" == 1 ]]; then
  : "${BENCH_N:=30}" "${BENCH_REACT:=10}" "${BENCH_ROUNDS:=1}" "${BENCH_TASKS:=2000}"
  : "${BENCH_INPROCESS_RUNS:=1}" "${BENCH_BIG_TASKS:=0}" "${BENCH_MORE_WORKERS:=0}"
  : "${BENCH_CLUSTER_BIND:=200}" "${BENCH_CLUSTER_FAILOVERS:=3}" "${BENCH_CLUSTER_ROUNDS:=1}"
  BENCH_OUT="${BENCH_OUT-}"
fi

mkdir -p _output/bench
# The binary under test is built as shipped: no -race.
go build -o _output/bench/cubelet .
go build -o _output/bench/bench ./hack/bench

exec _output/bench/bench \
  -cubelet _output/bench/cubelet \
  -n "${BENCH_N:-100}" \
  -react "${BENCH_REACT:-30}" \
  -tasks "${BENCH_TASKS:-10000}" \
  -puts "${BENCH_TASKS:-10000}" \
  -rounds "${BENCH_ROUNDS:-3}" \
  -inprocess-runs "${BENCH_INPROCESS_RUNS:-3}" \
  -big-tasks "${BENCH_BIG_TASKS:-50000}" \
  -inprocess-more-workers "${BENCH_MORE_WORKERS:-32}" \
  -cluster-bind "${BENCH_CLUSTER_BIND:-1000}" \
  -cluster-failovers "${BENCH_CLUSTER_FAILOVERS:-10}" \
  -cluster-rounds "${BENCH_CLUSTER_ROUNDS:-2}" \
  -only "${BENCH_ONLY:-}" \
  -out "${BENCH_OUT-docs/benchmarks.md}"
