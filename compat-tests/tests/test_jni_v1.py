"""V1Mesos, our libmesos's client of the v1 scheduler HTTP API, driven by a Java
scheduler compiled against pyspark's bindings jar.

The master here is a stand-in (java/v1master.py) that records every call, so the
calls themselves can be checked (test_v1_scheduler.py runs V1Mesos against our
real master); it speaks the documented protocol with Apache's own message
classes: SUBSCRIBE opens a RecordIO stream of protobuf events, every other call
carries the stream's Mesos-Stream-Id and gets 202 Accepted.
"""

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "java"))
import jvmtest  # noqa: E402
from v1master import FakeV1Master  # noqa: E402

pytestmark = pytest.mark.timeout(600)


@pytest.fixture
def classes(run_dir):
    return jvmtest.javac(run_dir / "classes", "TestFramework.java", "V0MesosCheck.java")


def run(procs, classes, master):
    status, output = procs.run(
        "v1mesos", jvmtest.java_cmd(classes, "TestFramework", master.address, "v1mesos"),
        env=jvmtest.java_env(), timeout=480, check=False)
    assert status == 0 and "RESULT ok" in output, output
    return output


def test_v1mesos_subscribe_accept_acknowledge_teardown(procs, classes, summary):
    master = FakeV1Master().start()
    try:
        output = run(procs, classes, master)
    finally:
        master.stop()
    assert master.call_types() == ["SUBSCRIBE", "ACCEPT", "ACKNOWLEDGE", "ACKNOWLEDGE", "TEARDOWN"]
    subscribe, _ = master.calls[0]
    assert subscribe.subscribe.framework_info.name == "jni-v1mesos"
    # Every call after SUBSCRIBE carries the stream id and the framework id.
    assert all(stream == master.stream_id for _, stream in master.calls[1:])
    assert all(call.framework_id.value == "fake-framework" for call, _ in master.calls[1:])
    accept, _ = master.calls[1]
    assert accept.accept.offer_ids[0].value == "offer-1"
    acks = [call.acknowledge.uuid for call, _ in master.calls[2:4]]
    assert acks == [bytes([1]) * 16, bytes([2]) * 16]
    assert "EVENT connected" in output and "CHECK HEARTBEAT" in output
    summary("jni: V1Mesos: SUBSCRIBE/stream/ACCEPT/ACKNOWLEDGE/TEARDOWN against a v1 API stand-in")


def test_v1mesos_reconnects_when_the_event_stream_ends(procs, classes):
    master = FakeV1Master(drop_first_stream=True).start()
    try:
        output = run(procs, classes, master)
    finally:
        master.stop()
    # The stream ended after SUBSCRIBED: disconnected, connected again, and the
    # scheduler subscribed anew.
    events = [line for line in output.splitlines() if line.startswith("EVENT ")]
    assert events[:4] == ["EVENT connected", "EVENT SUBSCRIBED", "EVENT HEARTBEAT", "EVENT disconnected"], events
    assert events[4] == "EVENT connected", events
    assert master.subscriptions == 2
    assert master.call_types()[:2] == ["SUBSCRIBE", "SUBSCRIBE"]
