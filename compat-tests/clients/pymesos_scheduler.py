"""A pymesos (PyPI, v1 scheduler API over HTTP) framework run against our
mesos-master; its tasks run pymesos_executor.py on our mesos-agent.

    pymesos_scheduler.py --master HOST:PORT --mode MODE [options]

Modes:
  full     launch a task that runs ("run") and one that finishes ("finish")
           on one pymesos executor; framework message to the executor and its
           echo back; explicit reconciliation of the running task; kill it;
           then decline with refuse_seconds (and time the next offer),
           suppress (no offers), revive (offers again), teardown.
  start    launch one "run" task, print its framework id once it runs, then
           stop without tearing down (failover) and exit.
  resume   resubscribe with --framework-id, reconcile implicitly, report what
           the master says about the task, kill it, tear down.
  greedy   launch --tasks command tasks of --cpus/--mem on any offer (as many
           as fit), until all finished (for the fairness test).

One JSON object per line on stdout ({"event": ..., "t": seconds since start});
exit 0 when the mode's script completed, 1 on an error or --timeout.
"""

import argparse
import getpass
import json
import os
import sys
import threading
import time

from pymesos import MesosSchedulerDriver, Scheduler, decode_data, encode_data

START = time.time()
LOCK = threading.Lock()


def emit(**obj):
    obj["t"] = round(time.time() - START, 3)
    with LOCK:
        sys.stdout.write(json.dumps(obj, sort_keys=True) + "\n")
        sys.stdout.flush()


def scalar(name, value):
    return dict(name=name, type="SCALAR", scalar=dict(value=value))


def offered(offer, name):
    return sum(r["scalar"]["value"] for r in offer.get("resources", []) if r["name"] == name)


class Base(Scheduler):
    def __init__(self, args):
        self.args = args
        self.done = threading.Event()
        self.failed = None
        self.framework_id = None

    def finish(self, error=None):
        if error:
            self.failed = error
            emit(event="error", message=error)
        self.done.set()

    def registered(self, driver, framework_id, master_info):
        self.framework_id = framework_id["value"]
        emit(event="registered", framework_id=self.framework_id, master=dict(master_info))
        self.on_subscribed(driver)

    def reregistered(self, driver, master_info):
        emit(event="reregistered", framework_id=driver.framework_id)
        self.framework_id = driver.framework_id
        self.on_subscribed(driver)

    def on_subscribed(self, driver):
        pass

    def error(self, driver, message):
        self.finish("master error: %s" % message)

    def statusUpdate(self, driver, status):
        emit(event="update", task_id=status["task_id"]["value"], state=status["state"],
             reason=status.get("reason"), source=status.get("source"), has_uuid="uuid" in status)
        self.on_update(driver, status)

    def on_update(self, driver, status):
        pass

    def executor_info(self):
        return dict(
            executor_id=dict(value="pymesos-exec"),
            name="pymesos executor",
            command=dict(value=self.args.executor_cmd, shell=True),
            resources=[scalar("cpus", 0.1), scalar("mem", 32)],
        )

    def task(self, offer, name, what):
        return dict(
            task_id=dict(value=name),
            agent_id=offer["agent_id"],
            name=name,
            executor=self.executor_info(),
            data=encode_data(what.encode("utf-8")),
            resources=[scalar("cpus", 0.1), scalar("mem", 32)],
        )


class Full(Base):
    """The whole v1 walk: launch, update, message both ways, reconcile,
    kill, decline filters, suppress/revive, teardown."""

    def __init__(self, args):
        super().__init__(args)
        self.phase = "launch"
        self.agent_id = None
        self.terminal = {}
        self.declined_at = None
        self.suppressed_at = None
        self.revived_at = None

    def resourceOffers(self, driver, offers):
        for offer in offers:
            emit(event="offer", offer_id=offer["id"]["value"], phase=self.phase, cpus=offered(offer, "cpus"))
            if self.phase == "launch":
                self.phase = "running"
                self.agent_id = offer["agent_id"]
                tasks = [self.task(offer, "run-1", "run"), self.task(offer, "finish-1", "finish")]
                driver.launchTasks(offer["id"], tasks)
                emit(event="launched", tasks=[t["task_id"]["value"] for t in tasks])
            elif self.phase == "filter":
                self.phase = "filter-wait"
                self.declined_at = time.time()
                driver.declineOffer(offer["id"], filters=dict(refuse_seconds=self.args.refuse_seconds))
                emit(event="declined", refuse_seconds=self.args.refuse_seconds)
            elif self.phase == "filter-wait":
                emit(event="reoffered", after=round(time.time() - self.declined_at, 3))
                driver.declineOffer(offer["id"], filters=dict(refuse_seconds=1.0))
                driver.suppressOffers()
                self.phase = "suppressed"
                self.suppressed_at = time.time()
                emit(event="suppressed")
                threading.Timer(self.args.suppress_seconds, self.revive, args=(driver,)).start()
            elif self.phase == "suppressed":
                emit(event="offer_while_suppressed")
                driver.declineOffer(offer["id"], filters=dict(refuse_seconds=1.0))
            elif self.phase == "revived":
                emit(event="revived_offer", after=round(time.time() - self.revived_at, 3))
                driver.declineOffer(offer["id"])
                self.phase = "done"
                self.finish()
            else:
                driver.declineOffer(offer["id"], filters=dict(refuse_seconds=1.0))

    def revive(self, driver):
        self.phase = "revived"
        self.revived_at = time.time()
        driver.reviveOffers()
        emit(event="revived")

    def on_update(self, driver, status):
        task = status["task_id"]["value"]
        state = status["state"]
        if task == "run-1" and state == "TASK_RUNNING" and status.get("reason") == "REASON_RECONCILIATION":
            emit(event="reconciled", state=state)
            driver.killTask(dict(value="run-1"))
        elif task == "run-1" and state == "TASK_RUNNING":
            driver.sendFrameworkMessage(dict(value="pymesos-exec"), status["agent_id"],
                                        encode_data(b"hello"))
        if state in ("TASK_FINISHED", "TASK_KILLED", "TASK_FAILED", "TASK_LOST", "TASK_ERROR"):
            self.terminal[task] = state
            if state not in ("TASK_FINISHED", "TASK_KILLED"):
                self.finish("task %s ended %s" % (task, state))
            elif len(self.terminal) == 2 and self.phase == "running":
                emit(event="terminal", tasks=self.terminal)
                self.phase = "filter"
                # The next offer comes once the executor's resources are
                # back; revive so no earlier decline filter delays it.
                driver.reviveOffers()

    def frameworkMessage(self, driver, executor_id, agent_id, data):
        text = decode_data(data).decode("utf-8")
        emit(event="message", data=text, executor_id=executor_id["value"])
        if text == "echo:hello":
            driver.reconcileTasks([dict(task_id=dict(value="run-1"), agent_id=agent_id)])


class Start(Base):
    def resourceOffers(self, driver, offers):
        for offer in offers:
            if not getattr(self, "launched", False):
                self.launched = True
                driver.launchTasks(offer["id"], [self.task(offer, "survivor", "run")])
                emit(event="launched", tasks=["survivor"])
            else:
                driver.declineOffer(offer["id"], filters=dict(refuse_seconds=60.0))

    def on_update(self, driver, status):
        if status["state"] == "TASK_RUNNING":
            emit(event="running", framework_id=self.framework_id)
            self.finish()


class Resume(Base):
    def on_subscribed(self, driver):
        driver.reconcileTasks([])

    def resourceOffers(self, driver, offers):
        for offer in offers:
            driver.declineOffer(offer["id"], filters=dict(refuse_seconds=60.0))

    def on_update(self, driver, status):
        task, state = status["task_id"]["value"], status["state"]
        if task == "survivor" and state == "TASK_RUNNING" and status.get("reason") == "REASON_RECONCILIATION":
            emit(event="reconciled", state=state)
            driver.killTask(dict(value="survivor"))
        elif task == "survivor" and state == "TASK_KILLED":
            self.finish()


class Greedy(Base):
    def __init__(self, args):
        super().__init__(args)
        self.launched = 0
        self.finished = 0

    def resourceOffers(self, driver, offers):
        for offer in offers:
            cpus, mem = offered(offer, "cpus"), offered(offer, "mem")
            tasks = []
            while self.launched < self.args.tasks and cpus >= self.args.cpus and mem >= self.args.mem:
                name = "greedy-%d" % self.launched
                tasks.append(dict(
                    task_id=dict(value=name), agent_id=offer["agent_id"], name=name,
                    command=dict(value="sleep 1000", shell=True),
                    resources=[scalar("cpus", self.args.cpus), scalar("mem", self.args.mem)],
                ))
                self.launched += 1
                cpus -= self.args.cpus
                mem -= self.args.mem
            if tasks:
                driver.launchTasks(offer["id"], tasks, filters=dict(refuse_seconds=0.1))
                emit(event="launched", count=len(tasks), total=self.launched)
            else:
                driver.declineOffer(offer["id"], filters=dict(refuse_seconds=0.1))

    def on_update(self, driver, status):
        if status["state"] == "TASK_FINISHED":
            self.finished += 1
            if self.finished == self.args.tasks:
                self.finish()
        elif status["state"] in ("TASK_FAILED", "TASK_LOST", "TASK_ERROR", "TASK_KILLED"):
            self.finish("task %s ended %s" % (status["task_id"]["value"], status["state"]))


MODES = {"full": Full, "start": Start, "resume": Resume, "greedy": Greedy}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--master", required=True)
    parser.add_argument("--mode", choices=sorted(MODES), default="full")
    parser.add_argument("--executor-cmd", default="")
    parser.add_argument("--framework-id")
    parser.add_argument("--name", default="pymesos-compat")
    parser.add_argument("--failover-timeout", type=float, default=0.0)
    parser.add_argument("--refuse-seconds", type=float, default=3.0)
    parser.add_argument("--suppress-seconds", type=float, default=3.0)
    parser.add_argument("--tasks", type=int, default=4)
    parser.add_argument("--cpus", type=float, default=0.5)
    parser.add_argument("--mem", type=float, default=32)
    parser.add_argument("--timeout", type=float, default=90)
    args = parser.parse_args()

    scheduler = MODES[args.mode](args)
    framework = dict(user=getpass.getuser(), name=args.name, failover_timeout=args.failover_timeout, checkpoint=True)
    if args.framework_id:
        framework["id"] = dict(value=args.framework_id)
    driver = MesosSchedulerDriver(scheduler, framework, args.master, use_addict=True)
    driver.start()
    if not scheduler.done.wait(args.timeout):
        scheduler.failed = "timeout"
        emit(event="error", message="timeout")
    # `start` leaves without tearing down, as a scheduler that fails over.
    driver.stop(failover=(args.mode == "start"))
    driver.join()
    emit(event="exit", ok=scheduler.failed is None)
    # pymesos may leave a non-daemon thread behind: leave without it.
    sys.stdout.flush()
    os._exit(0 if scheduler.failed is None else 1)


if __name__ == "__main__":
    main()
