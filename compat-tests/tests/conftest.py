"""Fixtures every compat test can use (the plumbing lives in lib/harness.py).

    repo_root            Path of the repository
    binary(name, example=False) -> Path
                         a binary or example cargo built under target/debug
    free_port() -> int   a loopback port free right now, never handed out twice
    run_dir              Path of this test's directory under target/compat-tests/
    procs                Processes: procs.start(name, argv, env=None, cwd=None) -> Proc,
                         procs.run(name, argv, timeout=60, env=None, cwd=None, check=True)
                         -> (status, output); every process is stopped after the test
    wait_http(url, timeout=30.0, proc=None, ok=...) -> requests.Response
    wait_until(predicate, timeout=30.0, interval=0.1, what=..., proc=None)
    pesos_cmd(script, *args) -> argv running clients/<script> in .venv-pesos
    run_pesos(script, *args, timeout=60, env=None, check=True) -> (status, output)
    summary(line)        a line for the "compat-tests summary" printed after the run
    zookeeper            a ZooKeeper 3.8 server for this test (lib/zkserver.py): str() is
                         "127.0.0.1:<port>"; .url(path, credentials=None) -> "zk://...";
                         .client() a started kazoo client; .kill() / .start_again();
                         .proxy() a TcpProxy (.block() / .unblock() partition one
                         client, .expire_session(id, password) ends a kazoo client's
                         session); its own data directory; stopped after the test

When a test fails, the tail of every log its processes wrote is attached to the
failure report; the full logs stay in its run_dir.
"""

import re
import shutil

import pytest

import harness
import zkserver

pytest_plugins = ("pytester",)  # lets the harness test its own failure reports

_PROCS = pytest.StashKey()
_SUMMARY = []


@pytest.fixture(scope="session")
def repo_root():
    return harness.REPO


@pytest.fixture(scope="session")
def binary():
    return harness.built


_PORTS = harness.Ports()


@pytest.fixture(scope="session")
def free_port():
    return _PORTS.get


@pytest.fixture
def run_dir(request):
    name = re.sub(r"[^A-Za-z0-9_.-]+", "_", request.node.nodeid).strip("_")
    path = harness.target_dir().parent / "compat-tests" / name
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True)
    return path


@pytest.fixture
def procs(request, run_dir):
    processes = harness.Processes(run_dir)
    request.node.stash[_PROCS] = processes
    yield processes
    processes.stop_all()


@pytest.fixture(scope="session")
def wait_http():
    return harness.wait_http


@pytest.fixture(scope="session")
def wait_until():
    return harness.wait_until


@pytest.fixture(scope="session")
def pesos_cmd():
    return harness.pesos_cmd


@pytest.fixture
def run_pesos(procs):
    def run(script, *args, timeout=60, env=None, check=True):
        return procs.run(
            script,
            harness.pesos_cmd(script, *args),
            timeout=timeout,
            env={**harness.PESOS_ENV, **(env or {})},
            check=check,
        )

    return run


@pytest.fixture
def zookeeper(procs, run_dir):
    server = zkserver.start(procs, run_dir, _PORTS.get)
    yield server
    server.close()


@pytest.fixture(scope="session")
def summary():
    return _SUMMARY.append


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    report = yield
    processes = item.stash.get(_PROCS, None)
    if report.failed and processes is not None and report.when in ("setup", "call"):
        for name, path in processes.logs.items():
            report.sections.append((f"log of {name}", harness.tail(path)))
    return report


def pytest_terminal_summary(terminalreporter):
    if _SUMMARY:
        terminalreporter.section("compat-tests summary")
        for line in _SUMMARY:
            terminalreporter.write_line(line)
