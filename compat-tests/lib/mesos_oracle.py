"""Apache Mesos 1.11's compiled schemas, obtained from PyPI at run time.

This module is the one place that knows where the schema oracle comes from. Two
published bdist tarballs carry the facts we check ourselves against:

* ``mesos.interface==1.11.0.linux-x86_64`` ships ``mesos_pb2.py`` (v0 ``mesos.proto``),
  whose module source holds the serialized ``FileDescriptorProto``;
* ``mesos.scheduler==1.11.0.linux-x86_64`` ships ``_scheduler.so``, Apache's libmesos
  compiled; protobuf's C++ generator embeds each compiled ``.proto`` in it as a
  serialized ``FileDescriptorProto`` (57 of them).

pip downloads these tarballs and then refuses to install them ("not a Python
project"); the URL it printed is taken from its output and fetched with urllib.
Nothing here names a registry host. Each tarball is checked against the SHA-256
recorded below before anything is read from it, and only the one member we need is
unpacked into the cache (``compat-tests/.cache/oracle`` unless told otherwise).

Command line (from the compat-tests venv): ``python mesos_oracle.py [--cache DIR]``
fetches both and lists the embedded files with their message counts.
"""

import ast
import functools
import hashlib
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import urllib.request

from google.protobuf import descriptor_pb2

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_CACHE = os.path.join(os.path.dirname(HERE), ".cache", "oracle")

# key -> (pip requirement, member of the tarball we read, SHA-256 of the tarball).
PACKAGES = {
    "interface": (
        "mesos.interface==1.11.0.linux-x86_64",
        "mesos/interface/mesos_pb2.py",
        "d31d3d303089abeb0a40f25267801e782343dcffb0e7454e23c223bd4e3f5e80",
    ),
    "scheduler": (
        "mesos.scheduler==1.11.0.linux-x86_64",
        "mesos/scheduler/_scheduler.so",
        "1d376f20bca6d05ee8b90c1c123a452b28753497ccc2f1c80ea3ac94c12e8f6e",
    ),
}


def _pip_url(requirement, workdir):
    """Run `pip download` and pull the artefact URL out of what it prints."""
    proc = subprocess.run(
        [sys.executable, "-m", "pip", "download", "--no-deps", "-d", workdir, requirement],
        capture_output=True,
        text=True,
    )
    out = proc.stdout + proc.stderr
    filename = requirement.replace("==", "-") + ".tar.gz"
    urls = [u for u in re.findall(r"https?://\S+?\.tar\.gz", out) if u.endswith("/" + filename)]
    if not urls:
        raise RuntimeError(f"pip printed no URL for {requirement}:\n{out}")
    return urls[0]


def _download(url, dest):
    """Fetch url into dest; return the SHA-256 of what was written."""
    digest = hashlib.sha256()
    with urllib.request.urlopen(url, timeout=300) as resp, open(dest, "wb") as f:
        while True:
            chunk = resp.read(1 << 20)
            if not chunk:
                break
            digest.update(chunk)
            f.write(chunk)
    return digest.hexdigest()


def _unpack_member(tarball, member_suffix, dest):
    """Copy the one tar member whose path ends with member_suffix to dest."""
    with tarfile.open(tarball) as tar:
        for info in tar:
            if info.isfile() and info.name.endswith("/" + member_suffix):
                src = tar.extractfile(info)
                with open(dest, "wb") as out:
                    shutil.copyfileobj(src, out)
                return
    raise RuntimeError(f"{member_suffix} not in {tarball}")


def fetch(cache_dir=None):
    """Make sure both oracle files are in cache_dir (idempotent; downloads once).

    Returns ``{"interface": <path of mesos_pb2.py>, "scheduler": <path of _scheduler.so>}``.
    """
    cache_dir = cache_dir or DEFAULT_CACHE
    os.makedirs(cache_dir, exist_ok=True)
    paths = {}
    for key, (requirement, member, sha256) in PACKAGES.items():
        path = os.path.join(cache_dir, key, os.path.basename(member))
        if not os.path.exists(path):
            with tempfile.TemporaryDirectory(dir=cache_dir) as work:
                url = _pip_url(requirement, work)
                tarball = os.path.join(work, "dist.tar.gz")
                got = _download(url, tarball)
                if got != sha256:
                    raise RuntimeError(f"{url}: SHA-256 {got}, expected {sha256}")
                part = os.path.join(work, "member")
                _unpack_member(tarball, member, part)
                os.makedirs(os.path.dirname(path), exist_ok=True)
                os.replace(part, path)  # atomic: a cut-off run leaves nothing behind
        paths[key] = path
    return paths


def _varint(buf, i):
    value, shift = 0, 0
    while True:
        byte = buf[i]
        i += 1
        value |= (byte & 0x7F) << shift
        shift += 7
        if byte < 0x80:
            return value, i


# Top-level fields of a proto2-era FileDescriptorProto and their wire types:
# 1-9 and 12 are length-delimited; 10 (public_dependency) and 11 (weak_dependency)
# are varints, or length-delimited when packed.
_FILE_FIELDS = {n: {2} for n in (1, 2, 3, 4, 5, 6, 7, 8, 9, 12)}
_FILE_FIELDS.update({10: {0, 2}, 11: {0, 2}})


def _descriptor_end(data, start):
    """Where the serialized FileDescriptorProto starting at `start` ends.

    Walks top-level fields while each is one a FileDescriptorProto can have; the
    first byte that cannot start such a field (the compiler's padding, the next
    symbol) ends it.
    """
    i = start
    while i < len(data):
        try:
            key, j = _varint(data, i)
            number, wire = key >> 3, key & 7
            if wire not in _FILE_FIELDS.get(number, ()):
                break
            if wire == 0:
                _, j = _varint(data, j)
            else:
                length, j = _varint(data, j)
                j += length
        except IndexError:
            break
        if j > len(data):
            break
        i = j
    return i


def descriptors_in_binary(path):
    """Every FileDescriptorProto embedded in a compiled protobuf C++ binary.

    A serialized FileDescriptorProto starts with field 1 (name): the byte 0x0a, a
    one-byte length and the path ending in ``.proto``. Each candidate span must
    parse and serialize back to the very same bytes, so a span that swallowed a
    neighbour's bytes is never taken for a descriptor. Returns {path: proto}.
    """
    with open(path, "rb") as f:
        data = f.read()
    found = {}
    for m in re.finditer(rb"\n([\x01-\x7f])([A-Za-z_0-9/.]+\.proto)", data):
        if m.group(1)[0] != len(m.group(2)):
            continue
        start = m.start()
        span = data[start:_descriptor_end(data, start)]
        try:
            fd = descriptor_pb2.FileDescriptorProto.FromString(span)
        except Exception:
            continue
        if fd.SerializeToString() != span:
            continue
        if fd.name not in found or fd.ByteSize() > found[fd.name].ByteSize():
            found[fd.name] = fd
    return found


def descriptor_in_pb2(path):
    """The FileDescriptorProto held by a generated ``*_pb2.py`` (read as text, never run)."""
    with open(path, encoding="latin-1") as f:
        tree = ast.parse(f.read())
    for node in ast.walk(tree):
        if isinstance(node, ast.keyword) and node.arg == "serialized_pb":
            value = node.value
            # Python-2 era modules wrap the literal in _b('...'), i.e. latin-1 bytes.
            if isinstance(value, ast.Call) and value.args:
                value = value.args[0]
            raw = ast.literal_eval(value)
            if isinstance(raw, str):
                raw = raw.encode("latin-1")
            return descriptor_pb2.FileDescriptorProto.FromString(raw)
    raise RuntimeError(f"no serialized_pb in {path}")


@functools.lru_cache(maxsize=None)
def libmesos_files(cache_dir=None):
    """{Apache import path: FileDescriptorProto} of every .proto compiled into libmesos 1.11."""
    return descriptors_in_binary(fetch(cache_dir)["scheduler"])


@functools.lru_cache(maxsize=None)
def interface_mesos_proto(cache_dir=None):
    """v0 ``mesos/mesos.proto`` at 1.11 as ``mesos.interface``'s ``mesos_pb2.py`` holds it."""
    return descriptor_in_pb2(fetch(cache_dir)["interface"])


def _count_messages(messages):
    return sum(1 + _count_messages(m.nested_type) for m in messages)


def main():
    import argparse

    ap = argparse.ArgumentParser(description="Fetch the Mesos 1.11 schema oracle and list it.")
    ap.add_argument("--cache", default=DEFAULT_CACHE)
    args = ap.parse_args()
    files = libmesos_files(args.cache)
    for name in sorted(files):
        print(f"{_count_messages(files[name].message_type):5d} messages  {name}")
    print(f"{len(files)} files in _scheduler.so")
    pb2 = interface_mesos_proto(args.cache)
    print(f"{_count_messages(pb2.message_type):5d} messages  {pb2.name} (mesos_pb2.py)")


if __name__ == "__main__":
    main()
