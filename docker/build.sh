#!/usr/bin/env bash
# Builds the images mesos-rs runs in, with no registry: a Debian base made by
# debootstrap and imported, and service images on top of it with binaries built
# on the host (bookworm's glibc matches the host's).
#
#   docker/build.sh [image...]    default: every image below
#
# Images: mesos-rs-base, mesos-rs-java (base + Java 17), mesos-rs-master,
# mesos-rs-agent, mesos-rs-zookeeper, mesos-rs-client (pesos), mesos-rs-spark
# (pyspark + our libmesos.so), and mesos-rs-task (the image Docker tasks run in
# the tests). Each service image carries a label with the hash of its
# inputs (Dockerfile and copied files); when the hash is unchanged the image is
# left alone, so a rerun takes a second or two.
#
# Environment: MESOS_RS_BIN (default target/debug): where the binaries are;
# MESOS_RS_DEBIAN_MIRROR: the Debian mirror for debootstrap and apt (default:
# debootstrap's own).
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(dirname "$here")
bin=${MESOS_RS_BIN:-$root/target/debug}
label=org.mesos-rs.inputs

log() { printf '[docker/build.sh] %s\n' "$*" >&2; }

have_image() { docker image inspect "$1" >/dev/null 2>&1; }

build_base() {
  if have_image mesos-rs-base; then
    return 0
  fi
  if ! command -v debootstrap >/dev/null && [ -x /usr/sbin/debootstrap ]; then PATH=$PATH:/usr/sbin; fi
  if ! command -v debootstrap >/dev/null; then
    # Debian's package, as compat-tests/setup.sh does for ZooKeeper.
    if [ "$(id -u)" = 0 ]; then
      log "installing debootstrap"
      apt-get install -y -qq debootstrap >/dev/null
    elif command -v sudo >/dev/null; then
      sudo apt-get install -y -qq debootstrap >/dev/null
    fi
  fi
  command -v debootstrap >/dev/null || { log "debootstrap is needed (apt-get install debootstrap)"; exit 1; }
  local dir
  dir=$(mktemp -d /tmp/mesos-rs-base.XXXXXX)
  log "debootstrap --variant=minbase bookworm (once)"
  debootstrap --variant=minbase --include=python3,procps,ca-certificates \
    bookworm "$dir" ${MESOS_RS_DEBIAN_MIRROR:-} >/tmp/mesos-rs-debootstrap.log 2>&1 \
    || { tail -20 /tmp/mesos-rs-debootstrap.log >&2; rm -rf "$dir"; exit 1; }
  rm -rf "$dir"/var/cache/apt/archives/*.deb "$dir"/var/lib/apt/lists/*
  tar -C "$dir" -c . | docker import -c 'ENV LANG=C.UTF-8' -c 'CMD ["/bin/bash"]' - mesos-rs-base >/dev/null
  rm -rf "$dir"
  log "mesos-rs-base imported"
}

# build IMAGE CONTEXT_DIR: docker build unless the inputs' hash is unchanged.
build() {
  local image=$1 context=$2 hash current
  hash=$( (cd "$context" && find . -type f -print0 | sort -z | xargs -0 sha256sum) | sha256sum | cut -c1-32)
  current=$(docker image inspect -f "{{ index .Config.Labels \"$label\" }}" "$image" 2>/dev/null || true)
  if [ "$current" = "$hash" ]; then
    log "$image is up to date"
    return 0
  fi
  log "building $image"
  docker build -q --label "$label=$hash" -t "$image" "$context" >/tmp/mesos-rs-build-$image.log 2>&1 \
    || { cat /tmp/mesos-rs-build-$image.log >&2; exit 1; }
}

# stage IMAGE: a fresh context directory with the image's Dockerfile.
stage() {
  local dir=/tmp/mesos-rs-images/$1
  rm -rf "$dir"
  mkdir -p "$dir"
  cp "$here/$1.Dockerfile" "$dir/Dockerfile"
  printf '%s' "$dir"
}

# copy_venv SRC DEST: a compat-tests venv for the image's Python (bookworm's
# /usr/bin/python3.11: same minor version as the host's), wherever the host's
# interpreter lives.
copy_venv() {
  cp -a "$(readlink -f "$1")" "$2"
  for link in python python3 python3.11; do
    rm -f "$2/bin/$link"
    ln -s /usr/bin/python3.11 "$2/bin/$link"
  done
  printf 'home = /usr/bin\ninclude-system-site-packages = false\nversion = 3.11\n' >"$2/pyvenv.cfg"
}

need_bin() {
  for b in "$@"; do
    [ -x "$bin/$b" ] || { log "$bin/$b is missing: run cargo build --bins first"; exit 1; }
  done
}

image_master() {
  need_bin mesos-master
  local ctx; ctx=$(stage master)
  cp "$bin/mesos-master" "$ctx/"
  build mesos-rs-master "$ctx"
}

image_agent() {
  need_bin mesos-agent mesos-executor mesos-default-executor mesos-docker-executor
  local ctx; ctx=$(stage agent)
  cp "$bin/mesos-agent" "$bin/mesos-executor" "$bin/mesos-default-executor" "$bin/mesos-docker-executor" "$ctx/"
  # The docker CLI (for --docker and command health checks run with `docker exec`).
  if command -v docker >/dev/null; then cp "$(command -v docker)" "$ctx/docker"; else : >"$ctx/docker"; fi
  build mesos-rs-agent "$ctx"
}

image_java() {
  local ctx; ctx=$(stage java)
  build mesos-rs-java "$ctx"
}

image_zookeeper() {
  image_java
  local ctx; ctx=$(stage zookeeper)
  # Rebuild when the java image changed.
  docker image inspect -f '{{.Id}}' mesos-rs-java >"$ctx/java-image-id"
  build mesos-rs-zookeeper "$ctx"
}

image_task() {
  local ctx; ctx=$(stage task)
  build mesos-rs-task "$ctx"
}

image_client() {
  local venv=$root/compat-tests/.venv-pesos
  [ -d "$venv/" ] || { log "compat-tests/.venv-pesos is missing (compat-tests/setup.sh)"; exit 1; }
  local ctx; ctx=$(stage client)
  copy_venv "$venv" "$ctx/venv-pesos"
  cp -a "$root/compat-tests/clients" "$ctx/clients"
  # kazoo (pure Python) and six from the main venv, for --zk clients.
  mkdir -p "$ctx/kazoo"
  local main_site
  main_site=$(ls -d "$root"/compat-tests/.venv/lib/python3*/site-packages | head -1)
  cp -a "$main_site/kazoo" "$main_site/six.py" "$ctx/kazoo/"
  find "$ctx" -name __pycache__ -prune -exec rm -rf {} +
  build mesos-rs-client "$ctx"
}

image_spark() {
  local venv=$root/compat-tests/.venv-spark
  [ -d "$venv/" ] || { log "compat-tests/.venv-spark is missing (compat-tests/setup.sh)"; exit 1; }
  [ -f "$bin/libmesos.so" ] || { log "$bin/libmesos.so is missing: run cargo build --lib first"; exit 1; }
  image_java
  local ctx; ctx=$(stage spark)
  docker image inspect -f '{{.Id}}' mesos-rs-java >"$ctx/java-image-id"
  copy_venv "$venv" "$ctx/venv-spark"
  cp "$bin/libmesos.so" "$ctx/"
  find "$ctx" -name __pycache__ -prune -exec rm -rf {} +
  build mesos-rs-spark "$ctx"
}

images=("$@")
[ ${#images[@]} -gt 0 ] || images=(master agent zookeeper task client spark)
build_base
for image in "${images[@]}"; do
  "image_$image"
done
