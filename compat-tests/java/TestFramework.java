// A JVM scheduler of ours, written against Apache's Java bindings, that makes
// the calls Marathon and Chronos rely on and Spark does not. Each scenario runs
// in its own JVM, prints what it sees, and ends with "RESULT ok" (exit 0) or
// "RESULT failed: ..." (exit 1):
//
//   TestFramework <master> <scenario> [args...]
//
// Scenarios
//   explicit-ack <workdir>    implicitAcknowledgements=false: a task's updates
//                             stop at TASK_RUNNING until acknowledged; explicit
//                             and implicit reconciliation answer with the state
//   filters-revive            decline with a long filter, reviveOffers() brings
//                             offers back; suppressOffers(), then revive
//   operations <workdir>      acceptOffers with RESERVE, CREATE (persistent
//                             volume) and LAUNCH on the volume; the next offer
//                             carries the reservation and the volume
//   messages <executor-cmd>   a MesosExecutorDriver-based executor (ours):
//                             framework messages both ways
//   failover-start <file>     register with a failover timeout, launch a long
//                             task, write the framework ID to <file>, stop(true)
//   failover-resume <file>    re-register with that framework ID: same ID, the
//                             task is still running (reconciliation), kill it,
//                             then stop() (the framework is torn down)
//   throw                     a callback throws: the driver aborts
//   v0mesos                   the v1 interface over the v0 driver (V0Mesos):
//                             SUBSCRIBE, OFFERS, ACCEPT a task, UPDATE, ACKNOWLEDGE
//   v1mesos                   the same through V1Mesos (the v1 HTTP API)
//
// Every wait has a generous limit (minutes) so a broken cluster fails the
// scenario instead of hanging it; nothing depends on how fast things happen.

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Paths;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.List;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.function.Predicate;

import org.apache.mesos.MesosSchedulerDriver;
import org.apache.mesos.Protos.*;
import org.apache.mesos.Scheduler;
import org.apache.mesos.SchedulerDriver;

public class TestFramework {
    static final long WAIT_SECONDS = 180;
    static final String ROLE = "jni";
    static final String PRINCIPAL = "jni-test";

    /** Everything the scheduler is told, as events the scenario waits for. */
    static class Event {
        final String kind;
        final Object value;
        final ExecutorID executorId;
        Event(String kind, Object value, ExecutorID executorId) {
            this.kind = kind;
            this.value = value;
            this.executorId = executorId;
        }
        public String toString() {
            return kind + (value instanceof TaskStatus
                    ? " " + ((TaskStatus) value).getTaskId().getValue() + " " + ((TaskStatus) value).getState()
                    : value instanceof String ? " " + value : "");
        }
    }

    static class Recorder implements Scheduler {
        final BlockingQueue<Event> events = new LinkedBlockingQueue<>();
        volatile boolean throwOnOffers = false;

        void put(String kind, Object value) {
            put(kind, value, null);
        }
        void put(String kind, Object value, ExecutorID executorId) {
            Event e = new Event(kind, value, executorId);
            System.out.println("EVENT " + e);
            events.add(e);
        }
        public void registered(SchedulerDriver d, FrameworkID id, MasterInfo master) {
            put("registered", id.getValue());
            put("master-version", master.getVersion());
        }
        public void reregistered(SchedulerDriver d, MasterInfo master) { put("reregistered", master.getId()); }
        public void disconnected(SchedulerDriver d) { put("disconnected", null); }
        public void resourceOffers(SchedulerDriver d, List<Offer> offers) {
            if (throwOnOffers) {
                throw new IllegalStateException("a scheduler bug, on purpose");
            }
            for (Offer o : offers) put("offer", o);
        }
        public void offerRescinded(SchedulerDriver d, OfferID id) { put("rescinded", id.getValue()); }
        public void statusUpdate(SchedulerDriver d, TaskStatus status) { put("update", status); }
        public void frameworkMessage(SchedulerDriver d, ExecutorID e, SlaveID s, byte[] data) {
            put("message", new String(data, StandardCharsets.UTF_8), e);
        }
        public void slaveLost(SchedulerDriver d, SlaveID id) { put("slave-lost", id.getValue()); }
        public void executorLost(SchedulerDriver d, ExecutorID e, SlaveID s, int status) {
            put("executor-lost", e.getValue());
        }
        public void error(SchedulerDriver d, String message) { put("error", message); }

        Event await(String what, Predicate<Event> matches) throws InterruptedException {
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(WAIT_SECONDS);
            while (true) {
                long left = deadline - System.nanoTime();
                Event e = left > 0 ? events.poll(left, TimeUnit.NANOSECONDS) : null;
                if (e == null) throw new AssertionError("no " + what + " within " + WAIT_SECONDS + "s");
                if (matches.test(e)) return e;
                // An offer nobody waited for is still ours (the master re-offers a
                // launch's leftovers once their filter expires): keep it for offer().
                if (e.kind.equals("offer")) heldOffers.add((Offer) e.value);
            }
        }
        /** Waits until each predicate has matched an event, whatever their order. */
        List<Event> awaitAll(String what, List<Predicate<Event>> wanted) throws InterruptedException {
            Event[] found = new Event[wanted.size()];
            int missing = wanted.size();
            while (missing > 0) {
                Event e = await(what, x -> true);
                for (int i = 0; i < found.length; i++) {
                    if (found[i] == null && wanted.get(i).test(e)) {
                        found[i] = e;
                        missing--;
                        break;
                    }
                }
            }
            return Arrays.asList(found);
        }

        /** Offers that arrived while await() looked for something else. */
        final java.util.ArrayDeque<Offer> heldOffers = new java.util.ArrayDeque<>();

        Offer offer() throws InterruptedException {
            Offer held = heldOffers.poll();
            return held != null ? held : (Offer) await("offer", e -> e.kind.equals("offer")).value;
        }
        TaskStatus update(String taskId, TaskState state) throws InterruptedException {
            return (TaskStatus) await(taskId + " " + state, e -> e.kind.equals("update")
                    && ((TaskStatus) e.value).getTaskId().getValue().equals(taskId)
                    && ((TaskStatus) e.value).getState() == state).value;
        }
    }

    static void check(boolean ok, String what) {
        if (!ok) throw new AssertionError(what);
        System.out.println("CHECK " + what);
    }

    static FrameworkInfo.Builder framework(String name) {
        return FrameworkInfo.newBuilder()
                .setUser("")
                .setName(name)
                .setRole(ROLE)
                .setPrincipal(PRINCIPAL)
                .setCheckpoint(true);
    }

    static Resource scalar(String name, double value, Resource like) {
        Resource.Builder r = Resource.newBuilder().setName(name).setType(Value.Type.SCALAR)
                .setScalar(Value.Scalar.newBuilder().setValue(value));
        if (like != null && like.hasAllocationInfo()) r.setAllocationInfo(like.getAllocationInfo());
        if (like != null && like.hasRole()) r.setRole(like.getRole());
        if (like != null && like.hasReservation()) r.setReservation(like.getReservation());
        return r.build();
    }

    static Resource find(Offer offer, String name, boolean reserved) {
        for (Resource r : offer.getResourcesList()) {
            boolean isReserved = (r.hasRole() && !r.getRole().equals("*")) || r.getReservationsCount() > 0;
            if (r.getName().equals(name) && isReserved == reserved && !r.hasDisk()) return r;
        }
        return null;
    }

    static TaskInfo task(String id, Offer offer, String command, Resource... resources) {
        return TaskInfo.newBuilder()
                .setName(id)
                .setTaskId(TaskID.newBuilder().setValue(id))
                .setSlaveId(offer.getSlaveId())
                .addAllResources(Arrays.asList(resources))
                .setCommand(CommandInfo.newBuilder().setShell(true).setValue(command))
                .build();
    }

    static TaskInfo smallTask(String id, Offer offer, String command) {
        return task(id, offer, command,
                scalar("cpus", 0.1, find(offer, "cpus", false)), scalar("mem", 32, find(offer, "mem", false)));
    }

    static boolean isUpdateOf(Event e, String taskId) {
        return e.kind.equals("update") && ((TaskStatus) e.value).getTaskId().getValue().equals(taskId);
    }

    /** Acknowledges taskId's updates until one in `state` (acknowledged too). */
    static TaskStatus ackUntil(SchedulerDriver driver, Recorder r, String taskId, TaskState state) throws Exception {
        while (true) {
            TaskStatus status = (TaskStatus) r.await(taskId + " " + state, e -> isUpdateOf(e, taskId)).value;
            if (status.hasUuid()) driver.acknowledgeStatusUpdate(status);
            if (status.getState() == state) return status;
        }
    }

    static void declineAll(SchedulerDriver driver, Recorder r) {
        for (Event e : new ArrayList<>(r.events)) {
            if (e.kind.equals("offer")) driver.declineOffer(((Offer) e.value).getId());
        }
    }

    public static void main(String[] args) throws Exception {
        String master = args[0];
        String scenario = args[1];
        runAndExit(() -> {
            switch (scenario) {
                case "explicit-ack": explicitAck(master); break;
                case "filters-revive": filtersRevive(master); break;
                case "operations": operations(master); break;
                case "messages": messages(master, args[2]); break;
                case "failover-start": failoverStart(master, args[2]); break;
                case "failover-resume": failoverResume(master, args[2]); break;
                case "throw": throwing(master); break;
                case "v0mesos": V0MesosCheck.runWith(master, false); break;
                case "v1mesos": V0MesosCheck.runWith(master, true); break;
                default: throw new IllegalArgumentException("unknown scenario " + scenario);
            }
        });
    }

    interface Body {
        void run() throws Exception;
    }

    /** Runs a scenario, prints RESULT ok or RESULT failed, and exits 0 or 1. */
    static void runAndExit(Body body) {
        try {
            body.run();
            System.out.println("RESULT ok");
            System.exit(0);
        } catch (Throwable t) {
            t.printStackTrace(System.out);
            System.out.println("RESULT failed: " + t);
            System.exit(1);
        }
    }

    static void explicitAck(String master) throws Exception {
        Recorder r = new Recorder();
        MesosSchedulerDriver driver = new MesosSchedulerDriver(r, framework("jni-explicit-ack").build(), master, false);
        check(driver.start() == Status.DRIVER_RUNNING, "start is DRIVER_RUNNING");
        r.await("registered", e -> e.kind.equals("registered"));
        Event version = r.await("master version", e -> e.kind.equals("master-version"));
        check(!((String) version.value).isEmpty(), "MasterInfo.version is filled: " + version.value);
        Offer offer = r.offer();
        driver.launchTasks(Collections.singletonList(offer.getId()),
                Collections.singletonList(smallTask("ack-1", offer, "sleep 1")));
        // Unacknowledged, the first update is sent again, and nothing after it.
        TaskStatus first = (TaskStatus) r.await("ack-1's first update", e -> isUpdateOf(e, "ack-1")).value;
        check(first.hasUuid(), first.getState() + " carries a uuid to acknowledge");
        TaskStatus retried = (TaskStatus) r.await("ack-1's next update", e -> isUpdateOf(e, "ack-1")).value;
        check(retried.getState() == first.getState() && retried.getUuid().equals(first.getUuid()),
                "without an acknowledgement the agent resends " + first.getState() + ", not the next update");
        // Acknowledge every update: the task goes on to TASK_FINISHED.
        check(driver.acknowledgeStatusUpdate(first) == Status.DRIVER_RUNNING, "acknowledgeStatusUpdate");
        TaskStatus status = first;
        while (status.getState() != TaskState.TASK_FINISHED) {
            status = (TaskStatus) r.await("ack-1 updates", e -> isUpdateOf(e, "ack-1")).value;
            check(status.getState() == TaskState.TASK_STARTING || status.getState() == TaskState.TASK_RUNNING
                    || status.getState() == TaskState.TASK_FINISHED, "ack-1 " + status.getState());
            driver.acknowledgeStatusUpdate(status);
        }
        check(true, "TASK_FINISHED after explicit acknowledgements");

        // Explicit reconciliation: the master answers with the task's state.
        driver.reconcileTasks(Collections.singletonList(TaskStatus.newBuilder()
                .setTaskId(TaskID.newBuilder().setValue("ack-1")).setState(TaskState.TASK_STAGING).build()));
        TaskStatus reconciled = (TaskStatus) r.await("reconciliation of ack-1", e -> e.kind.equals("update")
                && ((TaskStatus) e.value).getTaskId().getValue().equals("ack-1")
                && ((TaskStatus) e.value).getReason() == TaskStatus.Reason.REASON_RECONCILIATION).value;
        check(reconciled.getState() == TaskState.TASK_FINISHED || reconciled.getState() == TaskState.TASK_LOST
                        || reconciled.getState() == TaskState.TASK_GONE || reconciled.getState() == TaskState.TASK_UNKNOWN,
                "explicit reconciliation answers " + reconciled.getState());
        // A task the master never heard of.
        driver.reconcileTasks(Collections.singletonList(TaskStatus.newBuilder()
                .setTaskId(TaskID.newBuilder().setValue("never-launched")).setState(TaskState.TASK_RUNNING).build()));
        TaskStatus unknown = (TaskStatus) r.await("reconciliation of an unknown task", e -> e.kind.equals("update")
                && ((TaskStatus) e.value).getTaskId().getValue().equals("never-launched")).value;
        check(unknown.getState() == TaskState.TASK_LOST || unknown.getState() == TaskState.TASK_UNKNOWN
                || unknown.getState() == TaskState.TASK_GONE, "unknown task reconciles as " + unknown.getState());

        // Implicit reconciliation of a running task.
        Offer second = r.offer();
        driver.launchTasks(Collections.singletonList(second.getId()),
                Collections.singletonList(smallTask("ack-2", second, "sleep 600")));
        ackUntil(driver, r, "ack-2", TaskState.TASK_RUNNING);
        driver.reconcileTasks(Collections.<TaskStatus>emptyList());
        r.await("implicit reconciliation of ack-2", e -> e.kind.equals("update")
                && ((TaskStatus) e.value).getTaskId().getValue().equals("ack-2")
                && ((TaskStatus) e.value).getReason() == TaskStatus.Reason.REASON_RECONCILIATION
                && ((TaskStatus) e.value).getState() == TaskState.TASK_RUNNING);
        check(true, "implicit reconciliation reports ack-2 TASK_RUNNING");
        driver.killTask(TaskID.newBuilder().setValue("ack-2").build());
        ackUntil(driver, r, "ack-2", TaskState.TASK_KILLED);
        check(driver.stop() == Status.DRIVER_STOPPED, "stop is DRIVER_STOPPED");
        check(driver.join() == Status.DRIVER_STOPPED, "join returns DRIVER_STOPPED");
    }

    static void filtersRevive(String master) throws Exception {
        Recorder r = new Recorder();
        MesosSchedulerDriver driver = new MesosSchedulerDriver(r, framework("jni-filters").build(), master);
        driver.start();
        Offer offer = r.offer();
        // Refuse this agent's resources for an hour.
        driver.declineOffer(offer.getId(), Filters.newBuilder().setRefuseSeconds(3600).build());
        check(true, "declined with refuse_seconds=3600");
        // Revive clears the filters: the agent is offered again.
        check(driver.reviveOffers() == Status.DRIVER_RUNNING, "reviveOffers");
        Offer again = r.offer();
        check(again.getSlaveId().equals(offer.getSlaveId()), "offered again after reviveOffers");
        // Suppress, decline what we hold, then revive: offers come back.
        check(driver.suppressOffers() == Status.DRIVER_RUNNING, "suppressOffers");
        driver.declineOffer(again.getId(), Filters.newBuilder().setRefuseSeconds(1).build());
        r.events.clear();
        r.heldOffers.clear();
        check(driver.reviveOffers() == Status.DRIVER_RUNNING, "reviveOffers after suppress");
        r.offer();
        check(true, "offers resume after revive");
        driver.stop();
        driver.join();
    }

    static void operations(String master) throws Exception {
        Recorder r = new Recorder();
        MesosSchedulerDriver driver = new MesosSchedulerDriver(r, framework("jni-operations").build(), master);
        driver.start();
        Offer offer = r.offer();
        Resource cpus = find(offer, "cpus", false), mem = find(offer, "mem", false), disk = find(offer, "disk", false);
        check(cpus != null && mem != null && disk != null, "the offer has unreserved cpus, mem and disk");
        Resource.ReservationInfo reservation = Resource.ReservationInfo.newBuilder().setPrincipal(PRINCIPAL).build();
        List<Resource> toReserve = new ArrayList<>();
        for (Resource[] pair : new Resource[][] {{cpus, scalar("cpus", 0.2, cpus)}, {mem, scalar("mem", 64, mem)},
                {disk, scalar("disk", 32, disk)}}) {
            toReserve.add(pair[1].toBuilder().setRole(ROLE).setReservation(reservation).build());
        }
        Resource volume = toReserve.get(2).toBuilder()
                .setDisk(Resource.DiskInfo.newBuilder()
                        .setPersistence(Resource.DiskInfo.Persistence.newBuilder().setId("jni-vol").setPrincipal(PRINCIPAL))
                        .setVolume(Volume.newBuilder().setContainerPath("data").setMode(Volume.Mode.RW)))
                .build();
        // The task uses the reservation and the volume (its command does not
        // depend on how the agent exposes the volume in the sandbox).
        TaskInfo task = task("writer", offer, "ls -la",
                toReserve.get(0), toReserve.get(1), volume);
        List<Offer.Operation> operations = Arrays.asList(
                Offer.Operation.newBuilder().setType(Offer.Operation.Type.RESERVE)
                        .setReserve(Offer.Operation.Reserve.newBuilder().addAllResources(toReserve)).build(),
                Offer.Operation.newBuilder().setType(Offer.Operation.Type.CREATE)
                        .setCreate(Offer.Operation.Create.newBuilder().addVolumes(volume)).build(),
                Offer.Operation.newBuilder().setType(Offer.Operation.Type.LAUNCH)
                        .setLaunch(Offer.Operation.Launch.newBuilder().addTaskInfos(task)).build());
        check(driver.acceptOffers(Collections.singletonList(offer.getId()), operations,
                Filters.newBuilder().setRefuseSeconds(1).build()) == Status.DRIVER_RUNNING, "acceptOffers RESERVE+CREATE+LAUNCH");
        r.update("writer", TaskState.TASK_FINISHED);
        check(true, "the task on the reserved resources and the volume finished");
        // The reservation and the volume come back in a later offer.
        Event back = r.await("an offer with the volume", e -> {
            if (!e.kind.equals("offer")) return false;
            for (Resource res : ((Offer) e.value).getResourcesList()) {
                if (res.hasDisk() && res.getDisk().hasPersistence()
                        && res.getDisk().getPersistence().getId().equals("jni-vol")) return true;
            }
            return false;
        });
        Offer withVolume = (Offer) back.value;
        check(find(withVolume, "cpus", true) != null, "the reserved cpus are offered back");
        check(true, "the persistent volume jni-vol is offered back");
        driver.stop();
        driver.join();
    }

    static void messages(String master, String executorCommand) throws Exception {
        Recorder r = new Recorder();
        MesosSchedulerDriver driver = new MesosSchedulerDriver(r, framework("jni-messages").build(), master);
        driver.start();
        Offer offer = r.offer();
        ExecutorInfo executor = ExecutorInfo.newBuilder()
                .setExecutorId(ExecutorID.newBuilder().setValue("jni-executor"))
                .setName("jni test executor")
                .setCommand(CommandInfo.newBuilder().setShell(true).setValue(executorCommand))
                .addResources(scalar("cpus", 0.1, find(offer, "cpus", false)))
                .addResources(scalar("mem", 256, find(offer, "mem", false)))
                .build();
        TaskInfo task = TaskInfo.newBuilder()
                .setName("chat")
                .setTaskId(TaskID.newBuilder().setValue("chat"))
                .setSlaveId(offer.getSlaveId())
                .addResources(scalar("cpus", 0.1, find(offer, "cpus", false)))
                .addResources(scalar("mem", 32, find(offer, "mem", false)))
                .setExecutor(executor)
                .setData(com_data("hello executor"))
                .build();
        driver.launchTasks(Collections.singletonList(offer.getId()), Collections.singletonList(task));
        // The executor's message and its TASK_RUNNING travel different paths
        // (the update through the agent's status update manager): either may
        // come first.
        Event hello = r.awaitAll("chat TASK_RUNNING and the executor's first message", Arrays.asList(
                e -> e.kind.equals("message"),
                e -> isUpdateOf(e, "chat") && ((TaskStatus) e.value).getState() == TaskState.TASK_RUNNING)).get(0);
        check(hello.value.equals("started chat with hello executor"), "executor -> scheduler: " + hello.value);
        for (int i = 0; i < 3; i++) {
            driver.sendFrameworkMessage(executor.getExecutorId(), offer.getSlaveId(),
                    ("ping " + i).getBytes(StandardCharsets.UTF_8));
            final String expected = "pong " + i;
            r.await(expected, e -> e.kind.equals("message") && e.value.equals(expected));
            check(true, "scheduler -> executor -> scheduler: " + expected);
        }
        driver.sendFrameworkMessage(executor.getExecutorId(), offer.getSlaveId(), "finish".getBytes(StandardCharsets.UTF_8));
        r.update("chat", TaskState.TASK_FINISHED);
        check(true, "the executor finished its task");
        driver.stop();
        driver.join();
    }

    static org.apache.mesos.protobuf.ByteString com_data(String text) {
        return org.apache.mesos.protobuf.ByteString.copyFromUtf8(text);
    }

    static void failoverStart(String master, String idFile) throws Exception {
        Recorder r = new Recorder();
        MesosSchedulerDriver driver = new MesosSchedulerDriver(
                r, framework("jni-failover").setFailoverTimeout(3600).build(), master);
        driver.start();
        String id = (String) r.await("registered", e -> e.kind.equals("registered")).value;
        Offer offer = r.offer();
        driver.launchTasks(Collections.singletonList(offer.getId()),
                Collections.singletonList(smallTask("survivor", offer, "sleep 600")));
        r.update("survivor", TaskState.TASK_RUNNING);
        Files.write(Paths.get(idFile), id.getBytes(StandardCharsets.UTF_8));
        check(driver.stop(true) == Status.DRIVER_STOPPED, "stop(true): failing over, framework " + id);
        driver.join();
    }

    static void failoverResume(String master, String idFile) throws Exception {
        String id = new String(Files.readAllBytes(Paths.get(idFile)), StandardCharsets.UTF_8);
        Recorder r = new Recorder();
        MesosSchedulerDriver driver = new MesosSchedulerDriver(r, framework("jni-failover")
                .setFailoverTimeout(3600).setId(FrameworkID.newBuilder().setValue(id)).build(), master);
        driver.start();
        String again = (String) r.await("registered", e -> e.kind.equals("registered")).value;
        check(again.equals(id), "re-registered with the same framework ID " + id);
        driver.reconcileTasks(Collections.<TaskStatus>emptyList());
        r.await("survivor still running", e -> e.kind.equals("update")
                && ((TaskStatus) e.value).getTaskId().getValue().equals("survivor")
                && ((TaskStatus) e.value).getState() == TaskState.TASK_RUNNING);
        check(true, "the task survived the failover");
        driver.killTask(TaskID.newBuilder().setValue("survivor").build());
        r.update("survivor", TaskState.TASK_KILLED);
        check(driver.stop() == Status.DRIVER_STOPPED, "stop(): tearing the framework down");
        driver.join();
    }

    static void throwing(String master) throws Exception {
        Recorder r = new Recorder();
        r.throwOnOffers = true;
        MesosSchedulerDriver driver = new MesosSchedulerDriver(r, framework("jni-throw").build(), master);
        driver.start();
        Status status = driver.join();
        check(status == Status.DRIVER_ABORTED, "an exception in resourceOffers aborts the driver: " + status);
    }
}
