// The v1 scheduler interface over the v0 driver (org.apache.mesos.v1.scheduler.V0Mesos):
// connected -> SUBSCRIBE -> SUBSCRIBED and HEARTBEAT -> OFFERS -> ACCEPT(LAUNCH)
// -> UPDATEs, each ACKNOWLEDGEd (V0Mesos runs the driver with explicit
// acknowledgements) -> TASK_FINISHED -> TEARDOWN. Run by TestFramework "v0mesos".

import java.util.concurrent.BlockingQueue;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;

import org.apache.mesos.v1.Protos.*;
import org.apache.mesos.v1.scheduler.Mesos;
import org.apache.mesos.v1.scheduler.Protos.Call;
import org.apache.mesos.v1.scheduler.Protos.Event;
import org.apache.mesos.v1.scheduler.Scheduler;
import org.apache.mesos.v1.scheduler.V0Mesos;
import org.apache.mesos.v1.scheduler.V1Mesos;

public class V0MesosCheck implements Scheduler {
    final BlockingQueue<Object> seen = new LinkedBlockingQueue<>();
    final FrameworkInfo framework;

    V0MesosCheck(FrameworkInfo framework) {
        this.framework = framework;
    }

    public void connected(Mesos mesos) {
        System.out.println("EVENT connected");
        seen.add("connected");
        mesos.send(Call.newBuilder().setType(Call.Type.SUBSCRIBE)
                .setSubscribe(Call.Subscribe.newBuilder().setFrameworkInfo(framework)).build());
    }

    public void disconnected(Mesos mesos) {
        System.out.println("EVENT disconnected");
        seen.add("disconnected");
    }

    public void received(Mesos mesos, Event event) {
        System.out.println("EVENT " + event.getType());
        seen.add(event);
    }

    Event await(Event.Type type) throws InterruptedException {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(TestFramework.WAIT_SECONDS);
        while (true) {
            long left = deadline - System.nanoTime();
            Object o = left > 0 ? seen.poll(left, TimeUnit.NANOSECONDS) : null;
            if (o == null) throw new AssertionError("no " + type + " event");
            if (o instanceof Event && ((Event) o).getType() == type) return (Event) o;
        }
    }

    static Resource scalar(String name, double value, Offer offer) {
        for (Resource r : offer.getResourcesList()) {
            if (r.getName().equals(name)) {
                return r.toBuilder().setScalar(Value.Scalar.newBuilder().setValue(value)).build();
            }
        }
        throw new AssertionError("no " + name + " in the offer");
    }

    static void run(String master) throws Exception {
        runWith(master, false);
    }

    /** With v1=true, the same conversation through V1Mesos (the HTTP API). */
    static void runWith(String master, boolean v1) throws Exception {
        FrameworkInfo framework = FrameworkInfo.newBuilder().setUser("").setName(v1 ? "jni-v1mesos" : "jni-v0mesos")
                .addRoles("*").addCapabilities(FrameworkInfo.Capability.newBuilder()
                        .setType(FrameworkInfo.Capability.Type.MULTI_ROLE)).build();
        V0MesosCheck s = new V0MesosCheck(framework);
        Mesos mesos = v1 ? new V1Mesos(s, master) : new V0Mesos(s, framework, master);
        Event subscribed = s.await(Event.Type.SUBSCRIBED);
        FrameworkID id = subscribed.getSubscribed().getFrameworkId();
        TestFramework.check(!id.getValue().isEmpty(), "SUBSCRIBED with framework " + id.getValue());
        s.await(Event.Type.HEARTBEAT);
        TestFramework.check(true, "HEARTBEAT");
        Offer offer = s.await(Event.Type.OFFERS).getOffers().getOffers(0);
        TaskInfo task = TaskInfo.newBuilder().setName("v1-task").setTaskId(TaskID.newBuilder().setValue("v1-task"))
                .setAgentId(offer.getAgentId())
                .addResources(scalar("cpus", 0.1, offer)).addResources(scalar("mem", 32, offer))
                .setCommand(CommandInfo.newBuilder().setValue("true")).build();
        mesos.send(Call.newBuilder().setType(Call.Type.ACCEPT).setFrameworkId(id)
                .setAccept(Call.Accept.newBuilder().addOfferIds(offer.getId())
                        .addOperations(Offer.Operation.newBuilder().setType(Offer.Operation.Type.LAUNCH)
                                .setLaunch(Offer.Operation.Launch.newBuilder().addTaskInfos(task)))).build());
        while (true) {
            TaskStatus status = s.await(Event.Type.UPDATE).getUpdate().getStatus();
            System.out.println("UPDATE " + status.getState());
            if (status.hasUuid()) {
                mesos.send(Call.newBuilder().setType(Call.Type.ACKNOWLEDGE).setFrameworkId(id)
                        .setAcknowledge(Call.Acknowledge.newBuilder().setAgentId(status.getAgentId())
                                .setTaskId(status.getTaskId()).setUuid(status.getUuid())).build());
            }
            if (status.getState() == TaskState.TASK_FINISHED) break;
            if (status.getState() != TaskState.TASK_STARTING && status.getState() != TaskState.TASK_RUNNING
                    && status.getState() != TaskState.TASK_STAGING) {
                throw new AssertionError("task ended " + status.getState() + ": " + status.getMessage());
            }
        }
        TestFramework.check(true, "the task launched by ACCEPT finished");
        mesos.send(Call.newBuilder().setType(Call.Type.TEARDOWN).setFrameworkId(id).build());
        TestFramework.check(true, "TEARDOWN sent");
    }
}
