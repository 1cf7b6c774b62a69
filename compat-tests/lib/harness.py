"""Processes, ports and waiting: the plumbing under compat-tests' fixtures.

Plain Python with no pytest in it, so a script can use it too; `tests/conftest.py`
wraps it in fixtures. Every process started here gets its own session (process
group), so stopping it also stops what it spawned, and writes stdout and stderr,
interleaved, to one log file in the test's run directory.
"""

import os
import random
import signal
import socket
import subprocess
import time
from pathlib import Path

import requests

COMPAT = Path(__file__).resolve().parent.parent  # compat-tests/
REPO = COMPAT.parent
CLIENTS = COMPAT / "clients"
PESOS_PYTHON = COMPAT / ".venv-pesos" / "bin" / "python"


class HarnessError(AssertionError):
    """A process or endpoint did not do what a test waited for."""


def target_dir():
    """Cargo's debug output directory (`$CARGO_TARGET_DIR` honoured)."""
    root = os.environ.get("CARGO_TARGET_DIR") or REPO / "target"
    return Path(root).resolve() / "debug"


def built(name, example=False):
    """Path of a binary (or an example, with example=True) that cargo already built.

    Tests never build: `./test.sh` builds every binary and example once, before
    pytest starts. A missing binary is an error saying what to build.
    """
    path = target_dir() / ("examples" if example else "") / name
    if not path.is_file():
        what = f"--example {name}" if example else f"--bin {name}"
        raise HarnessError(f"{path} is not built: run ./test.sh, or cargo build {what}")
    return path


class Ports:
    """Hands out loopback TCP ports that were free when asked for, never one twice.

    Ports come from 20000-32767, below Linux's ephemeral range (32768+), so an
    outgoing connection elsewhere on the machine cannot take one between the check
    and the moment the test's server binds it.
    """

    def __init__(self, low=20000, high=32767, seed=None):
        self.low, self.high = low, high
        self.used = set()
        self.rng = random.Random(seed)

    def get(self):
        for _ in range(1000):
            port = self.rng.randint(self.low, self.high)
            if port in self.used:
                continue
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
                try:
                    s.bind(("127.0.0.1", port))
                except OSError:
                    continue
            self.used.add(port)
            return port
        raise HarnessError("no free loopback port found")


def tail(path, lines=200):
    """The last `lines` lines of a text file, or a note that there is none."""
    try:
        with open(path, "rb") as f:
            text = f.read().decode("utf-8", "replace")
    except FileNotFoundError:
        return f"({path} does not exist)"
    kept = text.splitlines()[-lines:]
    skipped = text.count("\n") - len(kept)
    head = f"... ({skipped} earlier lines in {path})\n" if skipped > 0 else ""
    return head + "\n".join(kept)


class Proc:
    """One started process. Use `Processes.start` to make one."""

    def __init__(self, name, argv, log_path, popen):
        self.name = name
        self.argv = argv
        self.log_path = log_path
        self.popen = popen

    @property
    def pid(self):
        return self.popen.pid

    @property
    def returncode(self):
        """The exit status (negative: killed by that signal), None while it runs."""
        return self.popen.poll()

    def alive(self):
        return self.popen.poll() is None

    def log(self):
        """Everything the process wrote so far."""
        return Path(self.log_path).read_text(errors="replace")

    def signal(self, sig):
        """Send `sig` to the process's whole group (it and what it spawned)."""
        try:
            os.killpg(self.popen.pid, sig)
        except ProcessLookupError:
            pass

    def wait(self, timeout=None):
        """Wait for the exit status; HarnessError if it still runs after `timeout` s."""
        __tracebackhide__ = True
        try:
            return self.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            raise HarnessError(f"{self.name} still runs after {timeout}s") from None

    def kill(self):
        """SIGKILL, no goodbye (a crash, as far as peers can tell); returns the status."""
        self.signal(signal.SIGKILL)
        return self.popen.wait()

    def stop(self, timeout=10):
        """SIGTERM, then SIGKILL if it lingers `timeout` s; returns the exit status."""
        if self.alive():
            self.signal(signal.SIGTERM)
            try:
                return self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                pass
        # Also reaps stragglers of the group when the leader is already gone.
        self.signal(signal.SIGKILL)
        return self.popen.wait()

    def __repr__(self):
        state = "running" if self.alive() else f"exited {self.returncode}"
        return f"<Proc {self.name} pid {self.pid} {state}>"


class Processes:
    """Starts processes for one test, logs each to `run_dir/<name>.log`, stops them all."""

    def __init__(self, run_dir):
        self.run_dir = Path(run_dir)
        self.procs = []
        self.logs = {}  # name -> log path, for everything started or run

    def _log_path(self, name):
        unique, n = name, 1
        while unique in self.logs:
            n += 1
            unique = f"{name}.{n}"
        path = self.run_dir / f"{unique}.log"
        self.logs[unique] = path
        return unique, path

    def start(self, name, argv, env=None, cwd=None):
        """Start argv in the background. `env` adds to (None values remove from) ours."""
        name, log_path = self._log_path(name)
        argv = [str(a) for a in argv]
        with open(log_path, "wb") as log:
            log.write(f"$ {' '.join(argv)}\n".encode())
            log.flush()
            popen = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=_merge_env(env),
                cwd=cwd,
                start_new_session=True,
            )
        proc = Proc(name, argv, log_path, popen)
        self.procs.append(proc)
        return proc

    def run(self, name, argv, timeout=60, env=None, cwd=None, check=True):
        """Run argv to completion; returns (exit status, its output).

        The output is also kept as `name`'s log. With check=True a non-zero exit or
        a timeout raises HarnessError showing the output.
        """
        __tracebackhide__ = True
        proc = self.start(name, argv, env=env, cwd=cwd)
        try:
            status = proc.wait(timeout)
        except HarnessError:
            proc.stop(timeout=2)
            raise HarnessError(f"{name} timed out after {timeout}s:\n{tail(proc.log_path)}") from None
        output = proc.log()
        if check and status != 0:
            raise HarnessError(f"{name} exited {status}:\n{tail(proc.log_path)}")
        return status, output

    def stop_all(self):
        """Stop every process, newest first (clients before the servers they use)."""
        for proc in reversed(self.procs):
            proc.stop()


def _merge_env(extra):
    env = dict(os.environ)
    for key, value in (extra or {}).items():
        if value is None:
            env.pop(key, None)
        else:
            env[key] = str(value)
    return env


def wait_until(predicate, timeout=30.0, interval=0.1, what="condition", proc=None, status=None):
    """Poll `predicate()` until it returns something truthy, and return that.

    If `proc` (a Proc) exits while we wait, fail at once with its log. `status`,
    if given, is called for a word on the last attempt to put in the error.
    """
    __tracebackhide__ = True
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        note = f" (last: {status()})" if status else ""
        if proc is not None and not proc.alive():
            raise HarnessError(
                f"{proc.name} exited {proc.returncode} while waiting for {what}{note}; its log:\n"
                f"{tail(proc.log_path)}"
            )
        if time.monotonic() >= deadline:
            raise HarnessError(f"timed out after {timeout}s waiting for {what}{note}")
        time.sleep(interval)


def wait_http(url, timeout=30.0, proc=None, ok=lambda resp: resp.status_code < 500):
    """GET `url` until it answers and `ok(response)` holds; returns the response."""
    __tracebackhide__ = True
    last = ["no answer yet"]

    def attempt():
        try:
            resp = requests.get(url, timeout=2)
        except requests.ConnectionError:
            last[0] = "connection refused or reset"
            return None
        except requests.RequestException as e:
            last[0] = f"{type(e).__name__}: {e}"
            return None
        if ok(resp):
            return resp
        last[0] = f"HTTP {resp.status_code}: {resp.text[:200]}"
        return None

    return wait_until(attempt, timeout=timeout, what=url, proc=proc, status=lambda: last[0])


def pesos_cmd(script, *args):
    """argv running compat-tests/clients/<script> with the pesos venv's interpreter."""
    path = CLIENTS / script
    if not path.is_file():
        raise HarnessError(f"no client script {path}")
    if not PESOS_PYTHON.exists():
        raise HarnessError(f"{PESOS_PYTHON} missing: run compat-tests/setup.sh")
    return [str(PESOS_PYTHON), str(path), *map(str, args)]


# pesos's vendored modules were generated by protobuf 2.6: only the pure-Python
# runtime reads them (the venv's sitecustomize sets this too).
PESOS_ENV = {"PROTOCOL_BUFFERS_PYTHON_IMPLEMENTATION": "python"}
