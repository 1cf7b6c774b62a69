// An executor of ours on Apache's MesosExecutorDriver (so on our libmesos and
// the Rust executor driver), for TestFramework's "messages" scenario:
// - launchTask: TASK_RUNNING, then the message "started <task> with <data>";
// - frameworkMessage "ping N": answers "pong N";
// - frameworkMessage "finish": TASK_FINISHED, then stops the driver.

import java.nio.charset.StandardCharsets;

import org.apache.mesos.Executor;
import org.apache.mesos.ExecutorDriver;
import org.apache.mesos.MesosExecutorDriver;
import org.apache.mesos.Protos.*;

public class TestExecutor implements Executor {
    private volatile TaskID task;

    public void registered(ExecutorDriver d, ExecutorInfo executor, FrameworkInfo framework, SlaveInfo slave) {
        System.out.println("registered " + executor.getExecutorId().getValue() + " on " + slave.getHostname());
    }

    public void reregistered(ExecutorDriver d, SlaveInfo slave) {
        System.out.println("reregistered");
    }

    public void disconnected(ExecutorDriver d) {
        System.out.println("disconnected");
    }

    public void launchTask(ExecutorDriver d, TaskInfo t) {
        task = t.getTaskId();
        d.sendStatusUpdate(TaskStatus.newBuilder().setTaskId(task).setState(TaskState.TASK_RUNNING).build());
        d.sendFrameworkMessage(("started " + task.getValue() + " with " + t.getData().toStringUtf8())
                .getBytes(StandardCharsets.UTF_8));
    }

    public void killTask(ExecutorDriver d, TaskID id) {
        d.sendStatusUpdate(TaskStatus.newBuilder().setTaskId(id).setState(TaskState.TASK_KILLED).build());
        d.stop();
    }

    public void frameworkMessage(ExecutorDriver d, byte[] data) {
        String text = new String(data, StandardCharsets.UTF_8);
        System.out.println("message " + text);
        if (text.startsWith("ping ")) {
            d.sendFrameworkMessage(("pong " + text.substring(5)).getBytes(StandardCharsets.UTF_8));
        } else if (text.equals("finish")) {
            d.sendStatusUpdate(TaskStatus.newBuilder().setTaskId(task).setState(TaskState.TASK_FINISHED).build());
            // Give the agent the update before going: the driver keeps it
            // until acknowledged, and stopping ends the driver.
            new Thread(() -> {
                try {
                    Thread.sleep(2000);
                } catch (InterruptedException e) {
                    return;
                }
                d.stop();
            }).start();
        }
    }

    public void shutdown(ExecutorDriver d) {
        System.out.println("shutdown");
    }

    public void error(ExecutorDriver d, String message) {
        System.out.println("error " + message);
    }

    public static void main(String[] args) {
        Status status = new MesosExecutorDriver(new TestExecutor()).run();
        System.out.println("driver ended " + status);
        System.exit(status == Status.DRIVER_STOPPED ? 0 : 1);
    }
}
