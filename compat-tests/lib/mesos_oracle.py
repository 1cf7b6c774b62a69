"""Apache Mesos 1.11's compiled schemas, obtained from PyPI at run time.

Two published bdist tarballs carry the schema facts we check ourselves against:

* ``mesos.interface==1.11.0.linux-x86_64`` ships ``mesos_pb2.py`` (v0 ``mesos.proto``),
  whose module source holds the serialized ``FileDescriptorProto``;
* ``mesos.scheduler==1.11.0.linux-x86_64`` ships ``_scheduler.so``, Apache's libmesos
  compiled; protobuf's C++ generator embeds each compiled ``.proto`` in it as a
  serialized ``FileDescriptorProto``.

pip downloads these tarballs and then refuses to install them; the URL it printed is
taken from its output and fetched with urllib. Nothing here names a registry host.
"""

import ast
import os
import re
import subprocess
import sys
import tarfile
import urllib.request

from google.protobuf import descriptor_pb2

PACKAGES = {
    "interface": "mesos.interface==1.11.0.linux-x86_64",
    "scheduler": "mesos.scheduler==1.11.0.linux-x86_64",
}


def _pip_url(requirement, workdir):
    """Run `pip download` and pull the artefact URL out of what it prints."""
    proc = subprocess.run(
        [sys.executable, "-m", "pip", "download", "--no-deps", "-d", workdir, requirement],
        capture_output=True,
        text=True,
    )
    out = proc.stdout + proc.stderr
    urls = re.findall(r"(https?://\S+?\.tar\.gz)", out)
    if not urls:
        raise RuntimeError(f"pip printed no URL for {requirement}:\n{out}")
    return urls[0]


def fetch(cache_dir):
    """Download and unpack both tarballs into cache_dir (idempotent).

    Returns a dict with the paths of ``mesos_pb2.py`` and ``_scheduler.so``.
    """
    os.makedirs(cache_dir, exist_ok=True)
    wanted = {
        "interface": "mesos/interface/mesos_pb2.py",
        "scheduler": "mesos/scheduler/_scheduler.so",
    }
    paths = {}
    for key, requirement in PACKAGES.items():
        found = _find(cache_dir, wanted[key])
        if found is None:
            url = _pip_url(requirement, cache_dir)
            tarball = os.path.join(cache_dir, key + ".tar.gz")
            tmp = tarball + ".part"
            with urllib.request.urlopen(url, timeout=300) as resp, open(tmp, "wb") as f:
                while True:
                    chunk = resp.read(1 << 20)
                    if not chunk:
                        break
                    f.write(chunk)
            os.replace(tmp, tarball)
            with tarfile.open(tarball) as tar:
                tar.extractall(os.path.join(cache_dir, key))
            os.remove(tarball)
            found = _find(cache_dir, wanted[key])
            if found is None:
                raise RuntimeError(f"{wanted[key]} not in {requirement}")
        paths[key] = found
    return paths


def _find(root, suffix):
    for dirpath, _, files in os.walk(root):
        for name in files:
            full = os.path.join(dirpath, name)
            if full.endswith(suffix):
                return full
    return None


def _varint(buf, i):
    value, shift = 0, 0
    while True:
        byte = buf[i]
        i += 1
        value |= (byte & 0x7F) << shift
        shift += 7
        if byte < 0x80:
            return value, i


def descriptors_in_binary(path):
    """Every FileDescriptorProto embedded in a compiled protobuf C++ binary.

    A serialized FileDescriptorProto starts with field 1 (name): the byte 0x0a, a
    one-byte length and the path ending in ``.proto``. From there we walk top-level
    length-delimited fields until a byte that cannot start one, and parse the span.
    """
    data = open(path, "rb").read()
    found = {}
    for m in re.finditer(rb"\n([\x01-\x7f])([A-Za-z_0-9/.]+\.proto)", data):
        if m.group(1)[0] != len(m.group(2)):
            continue
        start = i = m.start()
        while i < len(data):
            try:
                key, j = _varint(data, i)
                if key & 7 != 2 or not 1 <= key >> 3 <= 14:
                    break
                length, j = _varint(data, j)
            except IndexError:
                break
            if j + length > len(data):
                break
            i = j + length
        try:
            fd = descriptor_pb2.FileDescriptorProto.FromString(data[start:i])
        except Exception:
            continue
        if fd.name not in found or fd.ByteSize() > found[fd.name].ByteSize():
            found[fd.name] = fd
    return found


def descriptor_in_pb2(path):
    """The FileDescriptorProto held by a generated ``*_pb2.py`` (as its source text)."""
    tree = ast.parse(open(path, encoding="latin-1").read())
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
