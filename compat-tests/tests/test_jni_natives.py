"""Our libmesos.so against Apache's unmodified Java bindings: every native binds.

The natives are read from the jar PyPI's pyspark ships (mesos-1.4.3-shaded-protobuf.jar:
107 natives in 17 classes) with ``javap``, plus the five that Mesos 1.5-1.11 added
(listed below: no 1.11 jar is reachable here). Two proofs:

* symbols: for each native, the name the JVM finds first (the short JNI name, else
  the long one with the mangled arguments) is exported by libmesos.so, and no short
  name of an overloaded native is exported (it would be found for every overload);
* a JVM: a program compiled against the jar calls every native of every class on
  real objects (allocated without their constructors, so every handle is 0, with
  null/0 arguments) and none raises UnsatisfiedLinkError; each answers with a
  value or a Java exception, and the JVM survives all of them.
"""

import re
import sys
from collections import Counter
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "java"))
import jvmtest  # noqa: E402
from jvmtest import Native  # noqa: E402

DRIVER = "org.apache.mesos.MesosSchedulerDriver"
STATUS = "Lorg/apache/mesos/Protos$Status;"
# Natives of Mesos 1.11's bindings that the 1.4.3 jar does not have (from 1.11's
# MesosSchedulerDriver.java and Log.java).
ADDED_IN_1_11 = [
    Native(DRIVER, "reviveOffers", f"(Ljava/util/Collection;){STATUS}", False),
    Native(DRIVER, "suppressOffers", f"(Ljava/util/Collection;){STATUS}", False),
    Native(DRIVER, "updateFramework", f"(Lorg/apache/mesos/Protos$FrameworkInfo;Ljava/util/Collection;){STATUS}", False),
    Native(
        DRIVER,
        "updateFrameworkWithConstraints",
        "(Lorg/apache/mesos/Protos$FrameworkInfo;Ljava/util/Collection;"
        f"Lorg/apache/mesos/scheduler/Protos$OfferConstraints;){STATUS}",
        False,
    ),
    Native("org.apache.mesos.Log$Reader", "catchup", "(JLjava/util/concurrent/TimeUnit;)Lorg/apache/mesos/Log$Position;", False),
]


@pytest.fixture(scope="module")
def jar_natives():
    return jvmtest.natives()


def bound_name(native, exported, overloaded):
    """The symbol the JVM binds for `native` (short name first), or None."""
    short, long = jvmtest.jni_names(native)
    if short in exported:
        assert not overloaded, f"{native} is overloaded: exporting {short} binds every overload to one function"
        return short
    return long if long in exported else None


def check_symbols(natives, exported):
    names = Counter((n.cls, n.name) for n in natives)
    missing = [str(n) for n in natives if bound_name(n, exported, names[(n.cls, n.name)] > 1) is None]
    assert not missing, "natives libmesos.so does not export:\n" + "\n".join(missing)


def test_the_jar_has_the_natives_we_expect(jar_natives, summary):
    by_class = Counter(n.cls for n in jar_natives)
    assert len(jar_natives) == 107, len(jar_natives)
    assert len(by_class) == 17, sorted(by_class)
    assert by_class[DRIVER] == 17 and by_class["org.apache.mesos.state.AbstractState"] == 29
    summary(f"jni: pyspark's bindings jar: {len(jar_natives)} natives in {len(by_class)} classes; "
            f"+{len(ADDED_IN_1_11)} natives of 1.11")


def test_every_native_of_the_jar_is_exported(jar_natives):
    check_symbols(jar_natives, jvmtest.exported())


def test_the_natives_1_11_added_are_exported(jar_natives):
    exported = jvmtest.exported()
    check_symbols(ADDED_IN_1_11, exported)
    # With 1.11's class, the no-argument reviveOffers/suppressOffers are
    # overloaded too: their short names must not be exported either.
    combined = jar_natives + ADDED_IN_1_11
    check_symbols(combined, exported)


def probe(run_dir, procs, classes, extra_classpath=(), sources=("NativesProbe.java",)):
    out = jvmtest.javac(run_dir / "classes", *sources)
    status, output = procs.run(
        "probe",
        jvmtest.java_cmd(out, "NativesProbe", *classes, extra_classpath=extra_classpath),
        env=jvmtest.java_env(),
        timeout=120,
    )
    lines = [line for line in output.splitlines() if line.startswith("NATIVE ")]
    return lines, output


def test_a_jvm_binds_and_calls_every_native(jar_natives, run_dir, procs, summary):
    classes = sorted({n.cls for n in jar_natives})
    lines, output = probe(run_dir, procs, classes)
    unbound = [line for line in lines if " UNBOUND " in line]
    assert not unbound, "\n".join(unbound)
    called = {line.split()[1] for line in lines}
    expected = {f"{n.cls}.{n.name}{n.descriptor}" for n in jar_natives}
    assert called == expected, (expected - called, called - expected)
    assert "SUMMARY bound=107 unbound=0" in output
    # Every answer is a value or a Java exception of ours, never a crash.
    for line in lines:
        assert re.search(r" BOUND (returned|threw java\.)", line), line
    summary(f"jni: a JVM called all {len(lines)} natives of the jar: 0 UnsatisfiedLinkError")


def test_a_jvm_binds_the_1_11_scheduler_driver_natives(run_dir, procs):
    shadow = jvmtest.javac(run_dir / "mesos111", "mesos111/org/apache/mesos/MesosSchedulerDriver.java")
    lines, output = probe(run_dir, procs, [DRIVER], extra_classpath=[shadow])
    assert "SUMMARY bound=21 unbound=0" in output, output
    called = {line.split()[1].split("(")[0] for line in lines}
    assert {f"{DRIVER}.updateFramework", f"{DRIVER}.updateFrameworkWithConstraints"} <= called


def test_version_and_load_order(run_dir, procs):
    """MesosNativeLibrary finds us by MESOS_NATIVE_JAVA_LIBRARY, by the deprecated
    MESOS_NATIVE_LIBRARY, and by java.library.path; version() is 1.11.0."""
    out = jvmtest.javac(run_dir / "classes", "LoadCheck.java")
    lib = jvmtest.libmesos()
    cases = {
        "MESOS_NATIVE_JAVA_LIBRARY": ({"MESOS_NATIVE_JAVA_LIBRARY": str(lib)}, []),
        "MESOS_NATIVE_LIBRARY": ({"MESOS_NATIVE_LIBRARY": str(lib)}, []),
        "java.library.path": ({}, [f"-Djava.library.path={lib.parent}"]),
    }
    for name, (env, jvm_args) in cases.items():
        status, output = procs.run(
            f"load-{name}", jvmtest.java_cmd(out, "LoadCheck", jvm_args=jvm_args), env=env, timeout=60
        )
        assert "VERSION 1.11.0" in output, (name, output)
        assert "LOADED true" in output, (name, output)
        if name == "MESOS_NATIVE_LIBRARY":
            assert "MESOS_NATIVE_LIBRARY is deprecated" in output


def test_unsupported_classes_say_what_is_missing(run_dir, procs):
    out = jvmtest.javac(run_dir / "classes", "LoadCheck.java")
    status, output = procs.run(
        "unsupported", jvmtest.java_cmd(out, "LoadCheck", "unsupported"), env=jvmtest.java_env(), timeout=60
    )
    for cls in ("LevelDBState", "LogState", "Log"):
        assert re.search(
            rf"UNSUPPORTED {cls} java\.lang\.UnsupportedOperationException: mesos-rs libmesos: "
            rf"org\.apache\.mesos\.(state\.)?{cls} .*is not supported",
            output,
        ), (cls, output)
