"""The harness itself: both venvs work, processes are logged and stopped, waits fail fast.

These need no mesos-rs binary; they keep the fixtures honest for the tests that do.
"""

import json
import os
import sys
import textwrap

import pytest

import harness

PY = sys.executable


def test_pesos_venv_speaks_libprocess(run_pesos, free_port):
    a, b = free_port(), free_port()
    _, output = run_pesos("compactor_smoke.py", a, b, timeout=30)
    seen = json.loads(output.splitlines()[-1])
    assert seen["agent_pinged_by"] == [f"master@127.0.0.1:{a}", True]
    assert seen["master_ponged_by"] == f"slave(1)@127.0.0.1:{b}"


def test_v1_clients_import():
    import kazoo.client  # noqa: F401
    import mesoshttp.client  # noqa: F401
    from http_parser.parser import HttpParser  # the C parser pymesos needs
    from pymesos import MesosSchedulerDriver  # noqa: F401

    HttpParser()


def test_started_process_is_logged_served_and_stopped(procs, free_port, wait_http):
    port = free_port()
    server = procs.start("web", [PY, "-m", "http.server", port, "--bind", "127.0.0.1"])
    resp = wait_http(f"http://127.0.0.1:{port}/", proc=server)
    assert resp.status_code == 200
    assert server.stop() == -15  # SIGTERM was enough
    log = server.log()
    assert log.startswith(f"$ {PY} -m http.server {port}")
    assert "GET / HTTP/1.1" in log


def _dead(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(") ", 1)[1].startswith("Z")
    except FileNotFoundError:
        return True


def test_stop_escalates_and_takes_the_whole_group(procs, run_dir, wait_until):
    pidfile = run_dir / "child.pid"
    script = f"trap '' TERM; sleep 300 & echo $! > {pidfile}; wait"
    proc = procs.start("stubborn", ["sh", "-c", script])
    wait_until(lambda: pidfile.exists() and pidfile.read_text().strip(), what="child pid", proc=proc)
    child = int(pidfile.read_text())
    assert proc.stop(timeout=1) == -9  # TERM ignored by sh, so KILL
    wait_until(lambda: _dead(child), timeout=5, what="the group's child to die")


def test_same_name_gets_its_own_log(procs):
    first = procs.start("twice", ["true"])
    second = procs.start("twice", ["true"])
    first.wait(10), second.wait(10)
    assert first.log_path != second.log_path
    assert sorted(procs.logs) == ["twice", "twice.2"]


def test_wait_http_fails_fast_when_the_process_dies(procs, free_port, wait_http):
    proc = procs.start("quitter", [PY, "-c", "print('bye'); raise SystemExit(3)"])
    with pytest.raises(harness.HarnessError, match=r"(?s)quitter exited 3.*bye"):
        wait_http(f"http://127.0.0.1:{free_port()}/", timeout=20, proc=proc)


def test_run_reports_failure_with_output(procs):
    with pytest.raises(harness.HarnessError, match=r"(?s)exited 2.*oops"):
        procs.run("failing", [PY, "-c", "import sys; print('oops'); sys.exit(2)"])
    status, out = procs.run("failing", [PY, "-c", "raise SystemExit(2)"], check=False)
    assert status == 2


def test_free_ports_are_distinct_and_bindable(free_port):
    import socket

    ports = [free_port() for _ in range(20)]
    assert len(set(ports)) == 20
    with socket.socket() as s:
        s.bind(("127.0.0.1", ports[0]))


def test_a_failing_test_shows_its_process_logs(pytester, monkeypatch):
    """The failure report carries the tail of each log the test's processes wrote."""
    monkeypatch.setenv("PYTHONPATH", os.path.dirname(harness.__file__))
    here = os.path.dirname(os.path.abspath(__file__))
    with open(os.path.join(here, "conftest.py")) as f:
        pytester.makeconftest(f.read())
    pytester.makepyfile(
        textwrap.dedent(
            """
            import sys
            def test_fails(procs):
                procs.run("talker", [sys.executable, "-c", "print('words from the process')"])
                assert False, "on purpose"
            """
        )
    )
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*log of talker*", "*words from the process*"])
