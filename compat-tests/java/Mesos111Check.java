// The natives Mesos 1.5-1.11 added to MesosSchedulerDriver, called through our
// stand-in for the 1.11 class (mesos111/, put before the 1.4.3 jar): the
// six-argument constructor with suppressed roles, reviveOffers(roles),
// suppressOffers(roles), updateFramework and updateFrameworkWithConstraints.
// Run as: Mesos111Check <master>; prints CHECK lines and RESULT ok.

import java.util.Collections;
import java.util.List;

import org.apache.mesos.MesosSchedulerDriver;
import org.apache.mesos.Protos.*;

public class Mesos111Check {
    public static void main(String[] args) {
        TestFramework.runAndExit(() -> run(args[0]));
    }

    static void run(String master) throws Exception {
        TestFramework.Recorder r = new TestFramework.Recorder();
        FrameworkInfo framework = TestFramework.framework("jni-111").build();
        List<String> jni = Collections.singletonList(TestFramework.ROLE);
        // Subscribe with the framework's only role suppressed: no offers until revived.
        MesosSchedulerDriver driver = new MesosSchedulerDriver(r, framework, jni, master, true);
        driver.start();
        String id = (String) r.await("registered", e -> e.kind.equals("registered")).value;
        TestFramework.check(driver.reviveOffers(jni) == Status.DRIVER_RUNNING, "reviveOffers(roles)");
        Offer offer = r.offer();
        TestFramework.check(true, "offers after reviveOffers(roles) for a role suppressed at subscription");
        TestFramework.check(driver.suppressOffers(jni) == Status.DRIVER_RUNNING, "suppressOffers(roles)");
        driver.declineOffer(offer.getId(), Filters.newBuilder().setRefuseSeconds(1).build());
        r.events.clear();
        driver.reviveOffers(jni);
        r.offer();
        TestFramework.check(true, "offers again after suppressOffers(roles) then reviveOffers(roles)");
        FrameworkInfo renamed = framework.toBuilder().setName("jni-111-updated")
                .setId(FrameworkID.newBuilder().setValue(id)).build();
        TestFramework.check(driver.updateFramework(renamed, jni) == Status.DRIVER_RUNNING, "updateFramework");
        // An empty message: every field of scheduler.OfferConstraints is optional.
        TestFramework.check(driver.updateFramework(renamed, Collections.<String>emptyList(),
                Filters.newBuilder().build()) == Status.DRIVER_RUNNING, "updateFrameworkWithConstraints");
        driver.stop(true);
        driver.join();
    }
}
