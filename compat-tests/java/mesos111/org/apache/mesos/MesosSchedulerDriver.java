// The surface of Mesos 1.11's org.apache.mesos.MesosSchedulerDriver that the
// 1.4.3 jar lacks, written for our tests (not Apache's source): put before the
// jar on the class path, it stands in for the 1.11 class, with the same fields
// and natives, so the natives 1.5-1.11 added (reviveOffers(roles),
// suppressOffers(roles), updateFramework, updateFrameworkWithConstraints) are
// bound and called as the JVM would with a 1.11 jar. Protos of 1.11 it needs and
// the 1.4.3 jar lacks (scheduler.OfferConstraints) are passed as Object: the JVM
// binds natives by name, and libmesos only calls toByteArray() on them.

package org.apache.mesos;

import java.util.Collection;

import org.apache.mesos.Protos.*;

public class MesosSchedulerDriver implements SchedulerDriver {
  static {
    MesosNativeLibrary.load();
  }

  public MesosSchedulerDriver(Scheduler scheduler, FrameworkInfo framework, String master) {
    this(scheduler, framework, null, master, true, null);
  }

  public MesosSchedulerDriver(Scheduler scheduler, FrameworkInfo framework, String master, Credential credential) {
    this(scheduler, framework, null, master, true, credential);
  }

  public MesosSchedulerDriver(
      Scheduler scheduler, FrameworkInfo framework, String master, boolean implicitAcknowledgements) {
    this(scheduler, framework, null, master, implicitAcknowledgements, null);
  }

  public MesosSchedulerDriver(
      Scheduler scheduler, FrameworkInfo framework, String master, boolean implicitAcknowledgements,
      Credential credential) {
    this(scheduler, framework, null, master, implicitAcknowledgements, credential);
  }

  public MesosSchedulerDriver(
      Scheduler scheduler, FrameworkInfo framework, Collection<String> suppressedRoles, String master,
      boolean implicitAcknowledgements) {
    this(scheduler, framework, suppressedRoles, master, implicitAcknowledgements, null);
  }

  public MesosSchedulerDriver(
      Scheduler scheduler, FrameworkInfo framework, Collection<String> suppressedRoles, String master,
      boolean implicitAcknowledgements, Credential credential) {
    if (scheduler == null || framework == null || master == null) {
      throw new NullPointerException("scheduler, framework and master are required");
    }
    this.scheduler = scheduler;
    this.framework = framework;
    this.suppressedRoles = suppressedRoles;
    this.master = master;
    this.implicitAcknowledgements = implicitAcknowledgements;
    this.credential = credential;
    initialize();
  }

  public native Status start();
  public native Status stop(boolean failover);
  public Status stop() { return stop(false); }
  public native Status abort();
  public native Status join();
  public Status run() {
    Status status = start();
    return status != Status.DRIVER_RUNNING ? status : join();
  }
  public native Status requestResources(Collection<Request> requests);
  public Status launchTasks(OfferID offerId, Collection<TaskInfo> tasks) {
    return launchTasks(offerId, tasks, Filters.newBuilder().build());
  }
  public native Status launchTasks(OfferID offerId, Collection<TaskInfo> tasks, Filters filters);
  public Status launchTasks(Collection<OfferID> offerIds, Collection<TaskInfo> tasks) {
    return launchTasks(offerIds, tasks, Filters.newBuilder().build());
  }
  public native Status launchTasks(Collection<OfferID> offerIds, Collection<TaskInfo> tasks, Filters filters);
  public native Status killTask(TaskID taskId);
  public native Status acceptOffers(
      Collection<OfferID> offerIds, Collection<Offer.Operation> operations, Filters filters);
  public Status declineOffer(OfferID offerId) { return declineOffer(offerId, Filters.newBuilder().build()); }
  public native Status declineOffer(OfferID offerId, Filters filters);
  public native Status reviveOffers();
  public native Status reviveOffers(Collection<String> roles);
  public native Status suppressOffers();
  public native Status suppressOffers(Collection<String> roles);
  public native Status acknowledgeStatusUpdate(TaskStatus status);
  public native Status sendFrameworkMessage(ExecutorID executorId, SlaveID slaveId, byte[] data);
  public native Status reconcileTasks(Collection<TaskStatus> statuses);
  public native Status updateFramework(FrameworkInfo frameworkInfo, Collection<String> suppressedRoles);
  public Status updateFramework(FrameworkInfo frameworkInfo, Collection<String> suppressedRoles, Object constraints) {
    return updateFrameworkWithConstraints(frameworkInfo, suppressedRoles, constraints);
  }
  private native Status updateFrameworkWithConstraints(
      FrameworkInfo frameworkInfo, Collection<String> suppressedRoles, Object offerConstraints);

  protected native void initialize();
  protected native void finalize();

  private final Scheduler scheduler;
  private final FrameworkInfo framework;
  private final Collection<String> suppressedRoles;
  private final String master;
  private final boolean implicitAcknowledgements;
  private final Credential credential;

  private long __scheduler;
  private long __driver;
}
