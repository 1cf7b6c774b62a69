#!/usr/bin/env bash
# Installs everything compat-tests need, from package registries only (nothing is
# vendored into the repo), into three virtualenvs beside this script:
#
#   .venv        pytest and the harness, a modern protobuf (schema oracle), requests,
#                kazoo, and the v1 clients pymesos 0.3.15 and mesoshttp 0.4.2;
#   .venv-pesos  the v0 clients pesos 0.2.2 and compactor 0.3.0 (a pure-Python
#                libprocess), whose Python-2-era pins fight the first venv's;
#   .venv-spark  PyPI's pyspark 3.5 (real Spark: spark-submit, its Mesos backend jar
#                and Apache's Java bindings jars/mesos-1.4.3-shaded-protobuf.jar,
#                which load our libmesos.so) and its py4j.
#
# and, system-wide, ZooKeeper 3.8 from Debian's `zookeeper` package (the tests start
# it themselves as a plain process on a loopback port; it is never run as a service).
#
# Every package is pinned, dependencies included, and installed with --no-deps, so
# the environment is the list below and nothing a resolver picked on the day.
# A venv carries a stamp holding the hash of this script and of the interpreter:
# when both match, the venv is kept and the script returns at once; otherwise the
# venv is rebuilt from nothing.
#
# Usage: compat-tests/setup.sh          (PYTHON=python3.11 to choose the interpreter)
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
PYTHON=${PYTHON:-python3}
CACHE="$HERE/.cache"
mkdir -p "$CACHE"

# Tools pip needs to build the sdists below without fetching unpinned build
# dependencies (every build runs with --no-build-isolation).
BUILD_TOOLS=(pip==23.2.1 setuptools==65.5.0 wheel==0.41.2)

# .venv, top-level packages first, then what they depend on.
MAIN_PACKAGES=(
  pytest==9.2.0 pytest-timeout==2.4.0 iniconfig==2.3.1 packaging==26.3 pluggy==1.7.0
  Pygments==2.21.0
  protobuf==7.36.2
  requests==2.34.2 certifi==2026.10.19.post1 charset-normalizer==3.5.2 idna==3.20
  urllib3==2.8.0
  kazoo==2.11.0
  pymesos==0.3.15 addict==2.4.0 six==1.17.0
  mesoshttp==0.4.2 cryptography==50.0.2 cffi==2.1.1 pycparser==3.12 PyJWT==2.15.1
)
# pymesos's http-parser, rebuilt from its sdist (see install_http_parser).
HTTP_PARSER=http-parser==0.9.0
CYTHON=Cython==0.29.37

# .venv-pesos. tornado 4 (5 removed IOLoop.initialize(close_loop=...), which
# compactor calls; 6 lacks gen.engine), the protobuf 3 runtime for pesos's vendored
# protobuf-2.6 modules (pure-Python implementation), and mesos.interface 0.21.1,
# whose Scheduler/Executor driver interfaces pesos subclasses.
PESOS_PACKAGES=(
  tornado==4.5.3 protobuf==3.20.3 mesos.interface==0.21.1 pesos==0.2.2 compactor==0.3.0
)

# Later issues add their clients here, each as one more install_* step called at
# the bottom (and from the stamp's point of view, any edit of this file reinstalls):
#   - the Docker base and service images, built locally (Docker issue).

# .venv-spark. pyspark's sdist is ~300 MB: it is downloaded once into .cache/ and
# this venv has a stamp of its own (these pins, setup_spark and the interpreter),
# so editing the rest of this script never rebuilds it.
SPARK_PACKAGES=(pyspark==3.5.9 py4j==0.10.9.7)

log() { printf 'compat-tests/setup.sh: %s\n' "$*" >&2; }

stamp_key() {
  { cat "$HERE/setup.sh"; "$PYTHON" -VV; } | sha256sum | cut -d' ' -f1
}

# new_venv DIR: an empty venv with the pinned build tools.
new_venv() {
  local dir=$1
  rm -rf "$dir"
  "$PYTHON" -m venv "$dir" || {
    log "'$PYTHON -m venv' failed (on Debian's own python3, apt-get install python3-venv)"
    return 1
  }
  "$dir/bin/python" -m pip install -q "${BUILD_TOOLS[@]}"
}

pip_in() {
  local dir=$1
  shift
  "$dir/bin/python" -m pip install -q --no-deps --no-build-isolation "$@"
}

# http-parser 0.9.0's sdist ships C that an old Cython generated, which no longer
# compiles against Python 3.11: regenerate parser.c from parser.pyx with Cython 0.29
# (the last line before 3.0), drop any prebuilt .so it carries, build from that tree.
install_http_parser() {
  local venv=$1 build
  build=$(mktemp -d "$CACHE/http-parser.XXXXXX")
  pip_in "$venv" "$CYTHON"
  "$venv/bin/python" -m pip download -q --no-deps --no-binary :all: --no-build-isolation \
    -d "$build" "$HTTP_PARSER"
  tar -xzf "$build"/http-parser-*.tar.gz -C "$build"
  local src
  src=$(echo "$build"/http-parser-*/)
  find "$src" -name '*.so' -delete
  "$venv/bin/cython" -o "$src/http_parser/parser.c" "$src/http_parser/parser.pyx" \
    2>"$build/cython.log" || { cat "$build/cython.log" >&2; return 1; }
  pip_in "$venv" "$src"
  rm -rf "$build"
}

setup_main() {
  local venv="$HERE/.venv"
  log "building $venv"
  new_venv "$venv"
  install_http_parser "$venv"
  pip_in "$venv" "${MAIN_PACKAGES[@]}"
  "$venv/bin/python" -m pip check
  "$venv/bin/python" - <<'EOF'
import google.protobuf, http_parser.parser, kazoo.client, mesoshttp.client, pymesos, pytest
import pytest_timeout, requests
assert int(google.protobuf.__version__.split(".")[0]) >= 4, google.protobuf.__version__
assert http_parser.parser.__file__.endswith(".so"), "http-parser without its C parser"
from pymesos import MesosSchedulerDriver, MesosExecutorDriver
EOF
}

setup_pesos() {
  local venv="$HERE/.venv-pesos"
  log "building $venv"
  new_venv "$venv"
  pip_in "$venv" "${PESOS_PACKAGES[@]}"
  # tornado 4 subclasses collections.MutableMapping, which Python 3.10 moved to
  # collections.abc only. Alias the ABCs back, for this venv's interpreter alone,
  # rather than patch anyone's package. pesos vendors modules generated by
  # protobuf 2.6, which only the pure-Python protobuf runtime accepts.
  local site
  site=$("$venv/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
  cat >"$site/sitecustomize.py" <<'EOF'
# Written by compat-tests/setup.sh: lets Python-3.4-era tornado run on 3.11.
import collections
import collections.abc
import os

for _name in collections.abc.__all__:
    if not hasattr(collections, _name):
        setattr(collections, _name, getattr(collections.abc, _name))
os.environ.setdefault("PROTOCOL_BUFFERS_PYTHON_IMPLEMENTATION", "python")
EOF
  "$venv/bin/python" - <<'EOF'
import compactor.context, compactor.process, google.protobuf, mesos.interface, tornado
from pesos.executor import PesosExecutorDriver
from pesos.scheduler import PesosSchedulerDriver
from pesos.vendor.mesos import mesos_pb2
from pesos.vendor.mesos.internal import messages_pb2
assert tornado.version == "4.5.3", tornado.version
assert google.protobuf.__version__ == "3.20.3", google.protobuf.__version__
EOF
}

# ZooKeeper 3.8 from Debian (HA issue). Only the jars and /etc/zookeeper/conf are
# used: tests write their own zoo.cfg and start QuorumPeerMain on a free loopback
# port (compat-tests/lib/zkserver.py, tests/support/zookeeper.rs). Skipped when the
# server jar is already there; the package lists are refreshed only when apt knows
# no candidate or the install fails (stale lists), so a rerun touches nothing.
ZOOKEEPER_JAR=/usr/share/java/zookeeper.jar

install_zookeeper() {
  [ -e "$ZOOKEEPER_JAR" ] && return 0
  if ! command -v apt-get >/dev/null; then
    log "ZooKeeper is missing and there is no apt-get: install ZooKeeper 3.8 so that $ZOOKEEPER_JAR exists"
    return 1
  fi
  local as_root=()
  if [ "$(id -u)" -ne 0 ]; then
    if ! command -v sudo >/dev/null; then
      log "ZooKeeper is missing: run 'apt-get install zookeeper' as root, then this script again"
      return 1
    fi
    as_root=(sudo)
  fi
  apt_get() { "${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get -q -y "$@"; }
  log "installing Debian's zookeeper package"
  if ! apt-cache policy zookeeper 2>/dev/null | grep -q 'Candidate: [0-9]'; then
    apt_get update
  fi
  if ! apt_get install --no-install-recommends zookeeper; then
    apt_get update
    apt_get install --no-install-recommends zookeeper
  fi
  if [ ! -e "$ZOOKEEPER_JAR" ]; then
    log "the zookeeper package is installed but $ZOOKEEPER_JAR is not there"
    return 1
  fi
}

setup_spark() {
  local venv="$HERE/.venv-spark" dl="$CACHE/pyspark"
  log "building $venv (pyspark's sdist is large: downloaded once into $dl)"
  new_venv "$venv"
  mkdir -p "$dl"
  # pip download keeps the files already in $dl.
  "$venv/bin/python" -m pip download -q --no-deps --no-binary :all: --no-build-isolation \
    -d "$dl" "${SPARK_PACKAGES[@]}"
  local pkg files=()
  for pkg in "${SPARK_PACKAGES[@]}"; do
    files+=("$dl/${pkg%%==*}-${pkg##*==}.tar.gz")
  done
  pip_in "$venv" "${files[@]}"
  "$venv/bin/python" - <<'EOF'
import os, pyspark
home = os.path.dirname(pyspark.__file__)
assert pyspark.__version__.startswith("3.5."), pyspark.__version__
for path in ("jars/mesos-1.4.3-shaded-protobuf.jar",
             "jars/spark-mesos_2.12-%s.jar" % pyspark.__version__,
             "bin/spark-submit", "examples/src/main/python/pi.py"):
    assert os.path.exists(os.path.join(home, path)), path
EOF
}

spark_stamp_key() {
  { printf '%s\n' "${SPARK_PACKAGES[@]}"; declare -f setup_spark; "$PYTHON" -VV; } |
    sha256sum | cut -d' ' -f1
}

main() {
  "$PYTHON" - <<'EOF' || log "warning: the recipes here were proven on Python 3.11"
import sys
sys.exit(sys.version_info[:2] != (3, 11))
EOF
  exec 9>"$CACHE/setup.lock"
  flock 9
  install_zookeeper
  local key
  key=$(stamp_key)
  local step venv
  for step in main pesos; do
    venv="$HERE/.venv"
    [ "$step" = pesos ] && venv="$HERE/.venv-pesos"
    if [ -x "$venv/bin/python" ] && [ "$(cat "$venv/.setup-stamp" 2>/dev/null)" = "$key" ]; then
      continue
    fi
    "setup_$step"
    echo "$key" >"$venv/.setup-stamp"
    log "$venv ready"
  done
  key=$(spark_stamp_key)
  venv="$HERE/.venv-spark"
  if ! [ -x "$venv/bin/python" ] || [ "$(cat "$venv/.setup-stamp" 2>/dev/null)" != "$key" ]; then
    setup_spark
    echo "$key" >"$venv/.setup-stamp"
    log "$venv ready"
  fi
}

main "$@"
