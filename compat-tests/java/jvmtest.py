"""Running our Java test programs against Apache's bindings and our libmesos.

The bindings are the jar PyPI's pyspark ships (``jars/mesos-1.4.3-shaded-protobuf.jar``,
installed into ``.venv-spark`` by ``setup.sh``): the very classes Spark uses. The Java
sources next to this file are compiled by the tests with ``javac`` against that jar
into the test's run directory; nothing compiled is kept in the repository.

    spark_home()            the installed pyspark package (SPARK_HOME for spark-submit)
    mesos_jar()             the bindings jar
    javac(out, *sources)    compile sources (names relative to compat-tests/java)
    java_cmd(classes, main, *args, lib=...)   argv for a JVM with the jar, the
                            compiled classes and our libmesos.so
    java_env(lib)           the environment a user sets: MESOS_NATIVE_JAVA_LIBRARY
    natives(jar)            every native method of the bindings, from ``javap``
    jni_names(native)       the short and long JNI names the JVM looks up
    exported(lib)           the symbols libmesos.so exports
"""

import glob
import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import harness

JAVA_DIR = Path(__file__).resolve().parent
SPARK_VENV = harness.COMPAT / ".venv-spark"


def _tool(name):
    java_home = os.environ.get("JAVA_HOME")
    if java_home and (Path(java_home) / "bin" / name).exists():
        return str(Path(java_home) / "bin" / name)
    found = shutil.which(name)
    if not found:
        raise harness.HarnessError(f"{name} not found: install a JDK (17) or set JAVA_HOME")
    return found


def spark_home():
    found = glob.glob(str(SPARK_VENV / "lib" / "python3*" / "site-packages" / "pyspark"))
    if not found:
        raise harness.HarnessError(f"pyspark is not installed in {SPARK_VENV}: run compat-tests/setup.sh")
    return Path(found[0])


def mesos_jar():
    jar = spark_home() / "jars" / "mesos-1.4.3-shaded-protobuf.jar"
    if not jar.is_file():
        raise harness.HarnessError(f"{jar} is missing: run compat-tests/setup.sh")
    return jar


def libmesos():
    return harness.built("libmesos.so")


def javac(out_dir, *sources, classpath=()):
    """Compiles `sources` (paths relative to compat-tests/java) into out_dir, with
    `classpath` ahead of the bindings jar."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    cp = os.pathsep.join([*map(str, classpath), str(mesos_jar())])
    argv = [_tool("javac"), "-nowarn", "-encoding", "UTF-8", "-d", str(out_dir), "-cp", cp]
    argv += [str(JAVA_DIR / s) for s in sources]
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=300)
    if proc.returncode != 0:
        raise harness.HarnessError(f"javac failed:\n{proc.stdout}\n{proc.stderr}")
    return out_dir


def java_env(lib=None):
    """The one variable a user of the Java bindings sets."""
    return {"MESOS_NATIVE_JAVA_LIBRARY": str(lib or libmesos())}


def java_cmd(classes, main, *args, extra_classpath=(), jvm_args=()):
    cp = os.pathsep.join([str(classes), *map(str, extra_classpath), str(mesos_jar())])
    return [_tool("java"), "-Xss4m", *jvm_args, "-cp", cp, main, *map(str, args)]


@dataclass(frozen=True)
class Native:
    cls: str  # binary name, e.g. org.apache.mesos.state.AbstractState$FetchFuture
    name: str
    descriptor: str  # JVM method descriptor, e.g. (J)Z
    static: bool

    def __str__(self):
        return f"{self.cls}.{self.name}{self.descriptor}"


def natives(jar=None):
    """Every native method of the bindings' classes (not the generated Protos), by
    reading `javap -p -s` of each class of the jar."""
    jar = str(jar or mesos_jar())
    listing = subprocess.run(["unzip", "-Z1", jar], capture_output=True, text=True, check=True).stdout.split()
    classes = sorted(
        n[: -len(".class")].replace("/", ".")
        for n in listing
        if n.startswith("org/apache/mesos/") and n.endswith(".class") and "Protos" not in n
        and "/protobuf/" not in n
    )
    out = subprocess.run(
        [_tool("javap"), "-p", "-s", "-cp", jar, *classes], capture_output=True, text=True, check=True
    ).stdout
    found, current, pending = [], None, None
    for line in out.splitlines():
        m = re.match(r"^(?:[\w ]+ )?(?:class|interface) ([\w.$]+)", line)
        if m and line.rstrip().endswith("{"):
            current = m.group(1)
            continue
        stripped = line.strip()
        if pending is not None:
            if stripped.startswith("descriptor:"):
                name, static = pending
                found.append(Native(current, name, stripped.split(":", 1)[1].strip(), static))
            pending = None
            continue
        if " native " in f" {stripped} ":
            head = stripped.split("(", 1)[0].split()
            pending = (head[-1], "static" in head)
    return found


def _mangle(text):
    out = []
    for ch in text:
        if ch.isascii() and ch.isalnum():
            out.append(ch)
        elif ch in "./":
            out.append("_")
        elif ch == "_":
            out.append("_1")
        elif ch == ";":
            out.append("_2")
        elif ch == "[":
            out.append("_3")
        else:
            out.append("_0%04x" % ord(ch))
    return "".join(out)


def jni_names(native):
    """(short, long) JNI names of a native, as the JNI specification mangles them."""
    short = "Java_" + _mangle(native.cls) + "_" + _mangle(native.name)
    args = native.descriptor[1 : native.descriptor.index(")")]
    return short, short + "__" + _mangle(args)


def exported(lib=None):
    out = subprocess.run(
        ["nm", "-D", "--defined-only", str(lib or libmesos())], capture_output=True, text=True, check=True
    ).stdout
    return {parts[2] for parts in (line.split() for line in out.splitlines()) if len(parts) == 3 and parts[1] == "T"}


def parse_entry(data):
    """A serialized mesos.internal.state.Entry as (name, uuid, value)."""
    fields, i = {}, 0
    while i < len(data):
        key, i = _varint(data, i)
        number, wire = key >> 3, key & 7
        assert wire == 2, f"unexpected wire type {wire} in an Entry"
        length, i = _varint(data, i)
        fields[number] = data[i : i + length]
        i += length
    return fields[1].decode(), fields[2], fields.get(3, b"")


def _varint(data, i):
    shift = value = 0
    while True:
        byte = data[i]
        i += 1
        value |= (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            return value, i


class Cluster:
    """Our mesos-master and one mesos-agent on loopback ports.

    With `zk_url`, `masters` masters contend in ZooKeeper (`--zk`, the registry in
    ZooKeeper) and the agent finds the leader there (`--master=zk://...`); the
    first master started leads, and `master` is its address."""

    def __init__(self, procs, binary, free_port, run_dir, agent_flags=(), zk_url=None, masters=1):
        self.master_port, self.agent_port = free_port(), free_port()
        self.master = f"127.0.0.1:{self.master_port}"
        self.agent_work_dir = Path(run_dir) / "agent"
        self.follower_ports = []
        ha = [f"--zk={zk_url}", f"--quorum={masters // 2 + 1}", "--hostname=127.0.0.1"] if zk_url else []
        self.master_proc = procs.start("mesos-master", [
            binary("mesos-master"), "--ip=127.0.0.1", f"--port={self.master_port}",
            f"--work_dir={Path(run_dir) / 'master'}", *ha,
        ])
        harness.wait_http(f"http://{self.master}/health", proc=self.master_proc)
        if zk_url:
            import requests

            # The first member leads once it has recovered the registry; the others follow.
            harness.wait_until(
                lambda: requests.get(f"http://{self.master}/master/state", timeout=5,
                                     allow_redirects=False).status_code == 200,
                timeout=60, what="the first master to lead", proc=self.master_proc)
            for i in range(1, masters):
                port = free_port()
                follower = procs.start(f"mesos-master{i}", [
                    binary("mesos-master"), "--ip=127.0.0.1", f"--port={port}",
                    f"--work_dir={Path(run_dir) / f'master{i}'}", *ha,
                ])
                harness.wait_http(f"http://127.0.0.1:{port}/health", proc=follower)
                self.follower_ports.append(port)
        launcher_dir = binary("mesos-executor").parent
        self.agent_proc = procs.start("mesos-agent", [
            binary("mesos-agent"), f"--master={zk_url or self.master}", f"--work_dir={self.agent_work_dir}",
            f"--port={self.agent_port}", "--ip=127.0.0.1", "--hostname=localhost",
            "--resources=cpus:4;mem:4096;disk:4096;ports:[31000-31100]",
            "--launcher=posix", "--isolation=posix/cpu,posix/mem", "--switch_user=false",
            "--registration_backoff_factor=10ms", f"--launcher_dir={launcher_dir}",
            f"--fetcher_cache_dir={Path(run_dir) / 'fetch'}", *agent_flags,
        ])
        harness.wait_until(lambda: len(self.state()["slaves"]) == 1, timeout=60,
                           what="the agent registered with the master", proc=self.agent_proc)

    def state(self):
        import requests

        return requests.get(f"http://{self.master}/master/state", timeout=10).json()

    def framework(self, name, completed=False):
        """The framework called `name` in the master's state (the last one), or None."""
        state = self.state()
        found = [f for f in state["completed_frameworks" if completed else "frameworks"] if f["name"] == name]
        return found[-1] if found else None
