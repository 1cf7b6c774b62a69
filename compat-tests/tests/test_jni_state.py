"""org.apache.mesos.state.ZooKeeperState through our libmesos, against a real ZooKeeper.

A Java program compiled against pyspark's bindings jar stores, fetches, expunges
and lists variables as Chronos (and Marathon 1.1-1.4's ``mesos_zk`` store) do;
kazoo then reads the znodes to check Apache's layout: one persistent znode per
name under the state's znode, holding a serialized ``mesos.internal.state.Entry``
(name, 16-byte UUID, value).
"""

import sys
from pathlib import Path

import pytest
from kazoo.client import KazooClient
from kazoo.exceptions import NoAuthError
from kazoo.security import make_digest_acl_credential

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "java"))
import jvmtest  # noqa: E402


@pytest.fixture
def state_check(run_dir):
    return jvmtest.javac(run_dir / "classes", "StateCheck.java")


def run_check(procs, classes, *args):
    status, output = procs.run(
        "state-check", jvmtest.java_cmd(classes, "StateCheck", *args), env=jvmtest.java_env(), timeout=180
    )
    assert "DONE" in output, output
    checks = {}
    for line in output.splitlines():
        if line.startswith("CHECK "):
            _, name, value = line.split(" ", 2)
            checks[name] = value
    return checks


EXPECTED = {
    "names-before": "[]",
    "fresh-value-length": "0",
    "stored-null": "false",
    "stored-value": "alpha",
    "fetched-value": "alpha",
    "stale-store-null": "true",
    "after-stale-value": "alpha",
    "v2-value": "gamma",
    "v3-value": "delta",
    "v2-now-stale": "true",
    "mutate-keeps-original": "delta/zeta",
    "binary-roundtrip": "true",
    "names": "[job-a, job-b, job-c]",
    "expunge-stale": "false",
    "expunge-current": "true",
    "expunge-again": "false",
    "fetch-after-expunge-length": "0",
    "names-after-expunge": "[job-b, job-c]",
    "future-done": "true/false/c",
    "race-winners": "1",
    "other-sees": "c",
}


def test_zookeeper_state_store_fetch_expunge_names(zookeeper, state_check, procs, summary):
    checks = run_check(procs, state_check, str(zookeeper), "/chronos/state")
    assert checks == EXPECTED

    zk = KazooClient(hosts=str(zookeeper))
    zk.start(timeout=30)
    try:
        assert sorted(zk.get_children("/chronos/state")) == ["job-b", "job-c", "race"]
        data, stat = zk.get("/chronos/state/job-c")
        name, uuid, value = parse = jvmtest.parse_entry(data)
        assert (name, value) == ("job-c", b"c"), parse
        assert len(uuid) == 16
        assert stat.ephemeralOwner == 0, "entries are persistent znodes"
        name, _, value = jvmtest.parse_entry(zk.get("/chronos/state/job-b")[0])
        assert value == bytes(range(256))
        assert zk.get("/chronos")[0] == b"" and zk.get("/chronos/state")[0] == b""
    finally:
        zk.stop()
    summary(f"jni: ZooKeeperState: {len(EXPECTED)} checks (store/fetch/expunge/names/stale/race) pass")


def test_zookeeper_state_with_digest_credentials(zookeeper, state_check, procs):
    """With credentials, znodes are readable by anyone and writable by their creator
    (Apache's EVERYONE_READ_CREATOR_ALL)."""
    checks = run_check(procs, state_check, str(zookeeper), "/secure/state", "digest", "chronos:secret")
    assert checks == EXPECTED

    # ZooKeeper shows a digest ACL's hash only to whoever may administer the
    # znode: read the ACL as the creator, try to write as anybody.
    owner = KazooClient(hosts=str(zookeeper), auth_data=[("digest", "chronos:secret")])
    anybody = KazooClient(hosts=str(zookeeper))
    owner.start(timeout=30)
    anybody.start(timeout=30)
    try:
        acls, _ = owner.get_acls("/secure/state/job-c")
        perms = {(acl.id.scheme, acl.id.id): acl.perms for acl in acls}
        digest = make_digest_acl_credential("chronos", "secret")
        assert perms == {("world", "anyone"): 1, ("digest", digest): 31}, perms  # READ, ALL
        assert anybody.get("/secure/state/job-c")[0]
        with pytest.raises(NoAuthError):
            anybody.set("/secure/state/job-c", b"not yours")
    finally:
        owner.stop()
        anybody.stop()


def test_zookeeper_state_waits_out_a_zookeeper_restart(zookeeper, state_check, procs, run_dir, wait_until):
    """An operation issued while ZooKeeper is down completes once it is back (as
    Apache's storage queues operations until it reconnects)."""
    proc = procs.start("state-restart", jvmtest.java_cmd(
        state_check, "StateCheck", "restart", str(zookeeper), "/restart/state", run_dir), env=jvmtest.java_env())
    wait_until(lambda: "STORED" in proc.log(), timeout=60, what="the first store", proc=proc)
    zookeeper.kill()
    (run_dir / "down").touch()
    wait_until(lambda: "FETCHING" in proc.log(), timeout=60, what="a fetch issued while ZooKeeper is down",
               proc=proc)
    zookeeper.start_again()
    assert proc.wait(timeout=120) == 0, proc.log()
    log = proc.log()
    for line in ("CHECK fetched-across-restart before", "CHECK stored-after-restart after",
                 "CHECK fetched-after-restart after", "DONE"):
        assert line in log, log
