"""The README's run command: `mesos-local` brings up one master and one agent
on embedded defaults, runs a sample task, shows its output and the URLs,
keeps serving until Ctrl-C, then stops both daemons."""

import signal
import subprocess

import requests


def _daemons_of(work_dir):
    out = subprocess.run(["pgrep", "-f", "--", f"--work_dir={work_dir}/"], capture_output=True, text=True)
    return [int(p) for p in out.stdout.split()]


def test_mesos_local_runs_a_task_and_stops_on_ctrl_c(binary, procs, free_port, run_dir, wait_until, summary):
    master, agent = free_port(), free_port()
    work_dir = run_dir / "local"
    local = procs.start(
        "mesos-local",
        [str(binary("mesos-local")), f"--port={master}", f"--agent_port={agent}", f"--work_dir={work_dir}",
         "--command=echo local-sample-output"],
    )
    wait_until(lambda: "Press Ctrl-C to stop." in local.log(), timeout=120, what="the sample task", proc=local)
    log = local.log()
    assert "task-0 TASK_FINISHED" in log, log
    assert "| local-sample-output" in log, log
    assert f"http://127.0.0.1:{master}/master/state" in log

    # The cluster keeps serving after the sample: the master knows the agent
    # and the finished framework.
    state = requests.get(f"http://127.0.0.1:{master}/master/state", timeout=5).json()
    assert len(state["slaves"]) == 1
    done = [t for f in state["completed_frameworks"] for t in f["completed_tasks"]]
    assert [t["state"] for t in done] == ["TASK_FINISHED"]
    assert requests.get(f"http://127.0.0.1:{agent}/health", timeout=5).status_code == 200
    assert len(_daemons_of(work_dir)) == 2

    local.signal(signal.SIGINT)
    assert local.wait(timeout=30) == 0
    assert _daemons_of(work_dir) == []
    summary("mesos-local: sample task finished; cluster stopped cleanly on SIGINT")
