"""A JVM framework of ours on Apache's Java bindings, our libmesos and our cluster.

``java/TestFramework.java`` is compiled against pyspark's bindings jar and run, one
scenario per JVM, against our mesos-master and mesos-agent. The scenarios are the
calls Marathon and Chronos make and Spark does not (explicit acknowledgements,
reconciliation, filters with suppress/revive, acceptOffers with RESERVE, CREATE and
LAUNCH, framework messages both ways through a MesosExecutorDriver-based executor,
failover with the same framework ID, stop(true) against stop(), a throwing
callback) and the v1 interface over the v0 driver (V0Mesos). Each prints CHECK
lines and ends with ``RESULT ok``; the master's /master/state is checked between
the steps that need it.
"""

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "java"))
import jvmtest  # noqa: E402

pytestmark = pytest.mark.timeout(600)


@pytest.fixture
def cluster(procs, binary, free_port, run_dir):
    return jvmtest.Cluster(procs, binary, free_port, run_dir)


@pytest.fixture
def classes(run_dir):
    return jvmtest.javac(run_dir / "classes", "TestFramework.java", "V0MesosCheck.java", "TestExecutor.java")


def scenario(procs, classes, cluster, name, *args, check=True):
    status, output = procs.run(
        f"framework-{name}",
        jvmtest.java_cmd(classes, "TestFramework", cluster.master, name, *args),
        env=jvmtest.java_env(),
        timeout=480,
        check=False,
    )
    if check:
        assert status == 0 and "RESULT ok" in output, output
    return [line[len("CHECK "):] for line in output.splitlines() if line.startswith("CHECK ")]


def test_explicit_acknowledgements_and_reconciliation(procs, classes, cluster):
    checks = scenario(procs, classes, cluster, "explicit-ack")
    assert "MasterInfo.version is filled: 1.11.0" in checks
    assert any(c.startswith("without an acknowledgement the agent resends") for c in checks)
    assert "implicit reconciliation reports ack-2 TASK_RUNNING" in checks
    assert "join returns DRIVER_STOPPED" in checks
    done = cluster.framework("jni-explicit-ack", completed=True)
    assert done is not None, "stop() tears the framework down"
    assert {t["name"]: t["state"] for t in done["completed_tasks"]} == {
        "ack-1": "TASK_FINISHED", "ack-2": "TASK_KILLED"}


def test_decline_filters_suppress_and_revive(procs, classes, cluster):
    checks = scenario(procs, classes, cluster, "filters-revive")
    assert "offered again after reviveOffers" in checks
    assert "offers resume after revive" in checks


def test_accept_offers_reserve_create_launch(procs, classes, cluster):
    checks = scenario(procs, classes, cluster, "operations")
    assert "acceptOffers RESERVE+CREATE+LAUNCH" in checks
    assert "the persistent volume jni-vol is offered back" in checks
    # The agent made the volume, and the master books the reservation.
    assert (cluster.agent_work_dir / "volumes" / "roles" / "jni" / "jni-vol").is_dir()
    agent = cluster.state()["slaves"][0]
    reserved = agent.get("reserved_resources", {}).get("jni", {})
    assert reserved.get("cpus") == pytest.approx(0.2) and reserved.get("mem") == pytest.approx(64), agent


def test_framework_messages_both_ways_with_a_java_executor(procs, classes, cluster):
    executor = " ".join([
        f"MESOS_NATIVE_JAVA_LIBRARY={jvmtest.libmesos()}",
        *jvmtest.java_cmd(classes, "TestExecutor"),
    ])
    checks = scenario(procs, classes, cluster, "messages", executor)
    assert "executor -> scheduler: started chat with hello executor" in checks
    assert [c for c in checks if c.startswith("scheduler -> executor -> scheduler")] == [
        f"scheduler -> executor -> scheduler: pong {i}" for i in range(3)]
    assert "the executor finished its task" in checks


def test_failover_with_the_same_framework_id_then_teardown(procs, classes, cluster, run_dir):
    id_file = run_dir / "framework-id"
    scenario(procs, classes, cluster, "failover-start", id_file)
    framework_id = id_file.read_text()
    # stop(true): the master keeps the framework, inactive, with its task running.
    kept = cluster.framework("jni-failover")
    assert kept is not None and kept["id"] == framework_id
    assert kept["active"] is False
    assert [(t["name"], t["state"]) for t in kept["tasks"]] == [("survivor", "TASK_RUNNING")]

    checks = scenario(procs, classes, cluster, "failover-resume", id_file)
    assert f"re-registered with the same framework ID {framework_id}" in checks
    assert "the task survived the failover" in checks
    # stop(): the framework is gone for good.
    assert cluster.framework("jni-failover") is None
    assert cluster.framework("jni-failover", completed=True)["id"] == framework_id


def test_a_throwing_callback_aborts_the_driver(procs, classes, cluster):
    checks = scenario(procs, classes, cluster, "throw")
    assert "an exception in resourceOffers aborts the driver: DRIVER_ABORTED" in checks


def test_v0mesos_v1_calls_over_the_v0_driver(procs, classes, cluster, summary):
    checks = scenario(procs, classes, cluster, "v0mesos")
    assert "HEARTBEAT" in checks and "the task launched by ACCEPT finished" in checks
    assert cluster.framework("jni-v0mesos", completed=True) is not None, "TEARDOWN removed the framework"
    summary("jni: JVM test framework: acks, reconcile, filters/suppress/revive, RESERVE/CREATE/LAUNCH, "
            "messages, failover, abort and V0Mesos against our cluster")


def test_the_natives_1_11_added_against_the_cluster(procs, run_dir, cluster):
    """Through our stand-in for 1.11's MesosSchedulerDriver (java/mesos111): subscribe
    with suppressed roles, reviveOffers(roles), suppressOffers(roles), updateFramework
    with and without offer constraints."""
    classes = jvmtest.javac(run_dir / "classes111", "mesos111/org/apache/mesos/MesosSchedulerDriver.java")
    jvmtest.javac(classes, "Mesos111Check.java", "TestFramework.java", "V0MesosCheck.java", classpath=[classes])
    status, output = procs.run(
        "mesos111", jvmtest.java_cmd(classes, "Mesos111Check", cluster.master), env=jvmtest.java_env(),
        timeout=480, check=False)
    assert status == 0 and "RESULT ok" in output, output
    assert "CHECK offers after reviveOffers(roles) for a role suppressed at subscription" in output
    log = cluster.master_proc.log()
    assert 'with roles {"jni"} suppressed' in log or "with roles [\"jni\"] suppressed" in log, log[-3000:]
    # updateFramework renamed it (with no failover timeout, the master forgets
    # it once the scheduler is gone: it is among the completed frameworks).
    assert "Updating framework" in log
    assert cluster.framework("jni-111-updated", completed=True) is not None, cluster.state()["completed_frameworks"]
