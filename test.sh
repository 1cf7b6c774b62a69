#!/usr/bin/env bash
# Every test mesos-rs has, installing what the tests need; the command CI runs.
#
#   ./test.sh                 setup, build, Rust tests, compat-tests
#   ./test.sh -k schema -x    arguments after the script go to pytest
#
# Needs: the Rust toolchain (no protoc), Python 3.11 with pip and venv, gcc, and
# access to crates.io and PyPI. Debug builds only; benches are not built.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"

started=$SECONDS
current=""
timings=()
# step NAME: close the running step (recording its time) and announce the next.
step() {
  [ -n "$current" ] && timings+=("$(printf '%5ds  %s' $((SECONDS - step_started)) "$current")")
  current=$1
  step_started=$SECONDS
  [ -n "$current" ] && printf '\n==> %s\n' "$current"
  return 0
}

step "compat-tests/setup.sh (venvs and clients, a no-op when up to date)"
compat-tests/setup.sh

# One build for both what cargo test runs and what compat-tests start (binaries,
# examples, and with --lib libmesos.so; tests never build). --tests keeps the
# dev-dependencies in the graph, so the crates shared with build scripts get the
# same profile in both commands and cargo test finds everything fresh: without it,
# protox and its chain build twice.
step "cargo build --workspace --lib --bins --examples --tests"
cargo build --workspace --locked --lib --bins --examples --tests

# The Docker images (debootstrap base, then binaries built above copied in):
# the Docker containerizer's tests and the compose tests run them.
step "docker/build.sh (images built here, no registry; a no-op when up to date)"
docker/build.sh

step "cargo test --workspace"
cargo test --workspace --locked

step "compat-tests (pytest)"
(cd compat-tests && exec .venv/bin/python -m pytest "$@")

step ""
printf '\n'
printf '%s\n' "${timings[@]}"
printf '%5ds  ./test.sh: all green\n' $((SECONDS - started))
