"""Spark on our cluster, unmodified: PyPI's pyspark 3.5 runs its shipped pi.py through
``spark-submit --master mesos://...`` with our libmesos.so as the native library of
its Mesos backend, on our mesos-master and mesos-agent.

* coarse-grained (Spark's default on Mesos): executors are long-lived Mesos tasks
  running Spark's CoarseGrainedExecutorBackend;
* fine-grained (``spark.mesos.coarse=false``): each Spark task is a Mesos task, run by
  Spark's MesosExecutorBackend, a MesosExecutorDriver executor on our libmesos too;
* ``mesos://zk://``: three of our masters contend in ZooKeeper and the driver finds
  the leader there;

Each run must print its estimate of pi; the master's state must show the framework,
its tasks on our agent and their completion. The summary reports the time from
spawning spark-submit to the first executor TASK_RUNNING (from the master's status
timestamps) and the pi job's wall time (Spark's own "Job 0 finished ... took").
"""

import re
import sys
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "java"))
import jvmtest  # noqa: E402

pytestmark = pytest.mark.timeout(900)


@pytest.fixture
def cluster(procs, binary, free_port, run_dir):
    return jvmtest.Cluster(procs, binary, free_port, run_dir)


def spark_submit(procs, master_url, run_dir, *conf):
    home = jvmtest.spark_home()
    python = jvmtest.SPARK_VENV / "bin" / "python"
    lib = jvmtest.libmesos()
    settings = [
        f"spark.mesos.executor.home={home}",
        f"spark.executorEnv.PYSPARK_PYTHON={python}",
        f"spark.executorEnv.MESOS_NATIVE_JAVA_LIBRARY={lib}",
        "spark.executor.memory=512m",
        "spark.cores.max=2",
        "spark.driver.host=127.0.0.1",
        "spark.driver.bindAddress=127.0.0.1",
        "spark.ui.enabled=false",
        f"spark.local.dir={run_dir / 'spark-local'}",
        *conf,
    ]
    argv = [str(home / "bin" / "spark-submit"), "--master", master_url]
    for setting in settings:
        argv += ["--conf", setting]
    argv += [str(home / "examples" / "src" / "main" / "python" / "pi.py"), "4"]
    env = {
        **jvmtest.java_env(lib),
        "SPARK_HOME": str(home),
        "PYSPARK_PYTHON": str(python),
        "SPARK_LOCAL_IP": "127.0.0.1",
    }
    started = time.time()
    status, output = procs.run("spark-submit", argv, env=env, timeout=600, check=False)
    wall = time.time() - started
    assert status == 0, output
    return output, started, wall


def check_run(cluster, output, started, wall, mode, summary):
    estimate = re.search(r"Pi is roughly (\d+\.\d+)", output)
    assert estimate, output
    assert abs(float(estimate.group(1)) - 3.14159) < 0.1
    job = re.search(r"Job 0 finished: reduce at \S+pi\.py:\d+, took (\d+\.\d+) s", output)
    assert job, output
    # The framework, its tasks on our agent, all finished.
    framework = cluster.framework("PythonPi", completed=True)
    assert framework is not None, cluster.state()
    tasks = framework["completed_tasks"]
    assert tasks, framework
    agent_id = cluster.state()["slaves"][0]["id"]
    assert {t["slave_id"] for t in tasks} == {agent_id}
    assert {t["state"] for t in tasks} == {"TASK_FINISHED"}, [(t["name"], t["state"]) for t in tasks]
    running = [s["timestamp"] for t in tasks for s in t["statuses"] if s["state"] == "TASK_RUNNING"]
    assert running, tasks
    first_running = min(running) - started
    summary(f"spark {mode}: pi={estimate.group(1)}; {len(tasks)} Mesos task(s) on our agent; "
            f"spark-submit to first executor TASK_RUNNING {first_running:.1f}s; pi job {float(job.group(1)):.1f}s; "
            f"spark-submit wall {wall:.1f}s")
    return tasks


def test_spark_pi_coarse_grained(cluster, procs, run_dir, summary):
    output, started, wall = spark_submit(procs, f"mesos://{cluster.master}", run_dir)
    tasks = check_run(cluster, output, started, wall, "coarse-grained", summary)
    # Executors are CoarseGrainedExecutorBackend tasks, named after the app.
    assert all(t["name"].startswith("PythonPi") for t in tasks), tasks
    assert "MesosCoarseGrainedSchedulerBackend" in output


def test_spark_pi_fine_grained(cluster, procs, run_dir, summary):
    output, started, wall = spark_submit(procs, f"mesos://{cluster.master}", run_dir, "spark.mesos.coarse=false")
    tasks = check_run(cluster, output, started, wall, "fine-grained", summary)
    # One Mesos task per Spark task (4 partitions), run by MesosExecutorBackend,
    # an executor on the Java MesosExecutorDriver and our libmesos.
    names = sorted(t["name"] for t in tasks)
    assert names == [f"task {i}.0 in stage 0.0 (TID {i})" for i in range(4)], names
    assert {t["executor_id"] for t in tasks} != {""}
    assert "MesosFineGrainedSchedulerBackend" in output



def test_spark_pi_with_zookeeper_master_detection(procs, binary, free_port, zookeeper, run_dir, summary):
    """``mesos://zk://...``: three of our masters contend in ZooKeeper (``--zk``), the
    agent and Spark's driver (our libmesos's detector) find the leader there."""
    import requests

    url = zookeeper.url("/mesos")
    cluster = jvmtest.Cluster(procs, binary, free_port, run_dir, zk_url=url, masters=3)
    # The followers send everyone to the leader.
    for port in cluster.follower_ports:
        answer = requests.get(f"http://127.0.0.1:{port}/master/state", timeout=5, allow_redirects=False)
        assert answer.status_code == 307, (answer.status_code, answer.text)
        assert answer.headers["Location"].endswith(f"{cluster.master}/master/state"), answer.headers
    output, started, wall = spark_submit(procs, f"mesos://{url}", run_dir)
    assert "Framework registered" in output
    check_run(cluster, output, started, wall, "coarse-grained via mesos://zk:// (3 masters)", summary)
