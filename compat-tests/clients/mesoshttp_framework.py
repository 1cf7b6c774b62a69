"""A PyPI `mesoshttp` (v1 scheduler API, JSON) framework run against our
mesos-master.

    mesoshttp_framework.py --master http://HOST:PORT --tasks N

It subscribes, launches N command tasks (`true`) on the offers it gets,
declines the rest, acknowledges updates (mesoshttp does that itself), and
tears down once every task is TASK_FINISHED. One JSON object per line on
stdout; exit 0 when all finished, 1 on an error, a failed task or a timeout.
"""

import argparse
import getpass
import json
import sys
import threading

from mesoshttp.client import MesosClient


def emit(**obj):
    sys.stdout.write(json.dumps(obj, sort_keys=True) + "\n")
    sys.stdout.flush()


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--master", required=True)
    parser.add_argument("--tasks", type=int, default=2)
    parser.add_argument("--timeout", type=float, default=60)
    args = parser.parse_args()

    client = MesosClient(mesos_urls=[args.master], frameworkName="mesoshttp-compat",
                         frameworkUser=getpass.getuser(), max_reconnect=1)
    state = {"launched": 0, "finished": set(), "failed": None, "driver": None}

    def subscribed(driver):
        state["driver"] = driver
        emit(event="subscribed", framework_id=client.frameworkId, master=client.get_master_info().get("version"))

    def offers(offers):
        for offer in offers:
            info = offer.get_offer()
            tasks = []
            while state["launched"] < args.tasks and len(tasks) < 2:
                name = "mesoshttp-%d" % state["launched"]
                tasks.append({
                    "name": name,
                    "task_id": {"value": name},
                    "agent_id": {"value": info["agent_id"]["value"]},
                    "resources": [
                        {"name": "cpus", "type": "SCALAR", "scalar": {"value": 0.1}},
                        {"name": "mem", "type": "SCALAR", "scalar": {"value": 32}},
                    ],
                    "command": {"value": "true", "shell": True},
                })
                state["launched"] += 1
            if tasks:
                # Short filters keep offers (and bytes) flowing: mesoshttp
                # reads its stream 512 bytes at a time, so an update can wait
                # in its buffer until more events arrive.
                offer.accept(tasks, {"filters": {"refuse_seconds": 0.1}})
                emit(event="launched", tasks=[t["task_id"]["value"] for t in tasks])
            else:
                offer.decline({"filters": {"refuse_seconds": 0.1}})

    def update(update):
        status = update["status"]
        emit(event="update", task_id=status["task_id"]["value"], state=status["state"])
        if status["state"] == "TASK_FINISHED":
            state["finished"].add(status["task_id"]["value"])
            if len(state["finished"]) == args.tasks:
                client.stop = True
                state["driver"].tearDown()
        elif status["state"] in ("TASK_FAILED", "TASK_LOST", "TASK_ERROR", "TASK_KILLED"):
            state["failed"] = "task %s ended %s" % (status["task_id"]["value"], status["state"])
            client.stop = True
            state["driver"].tearDown()

    def error(message):
        state["failed"] = "master error: %s" % message

    client.on(MesosClient.SUBSCRIBED, subscribed)
    client.on(MesosClient.OFFERS, offers)
    client.on(MesosClient.UPDATE, update)
    client.on(MesosClient.ERROR, error)

    timer = threading.Timer(args.timeout, lambda: (emit(event="error", message="timeout"), sys.stdout.flush(),
                                                    __import__("os")._exit(1)))
    timer.daemon = True
    timer.start()
    client.register()
    ok = state["failed"] is None and len(state["finished"]) == args.tasks
    emit(event="exit", ok=ok, error=state["failed"])
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
