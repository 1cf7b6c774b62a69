// Exercises org.apache.mesos.state.ZooKeeperState as Chronos and Marathon's
// mesos_zk store use it, printing one line per check:
//
//   CHECK <name> <value>
//
// Usage: StateCheck <servers> <znode> [<scheme> <credentials>]
//        StateCheck restart <servers> <znode> <dir>
//   The second form survives a ZooKeeper restart: it stores, prints STORED and
//   waits for <dir>/down; starts a fetch while ZooKeeper is down, prints
//   FETCHING, and waits for that fetch (the test restarts ZooKeeper meanwhile).

import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;

import org.apache.mesos.state.State;
import org.apache.mesos.state.Variable;
import org.apache.mesos.state.ZooKeeperState;

public class StateCheck {
    static void check(String name, Object value) {
        System.out.println("CHECK " + name + " " + value);
    }

    static String text(Variable v) {
        return new String(v.value());
    }

    static List<String> names(State state) throws Exception {
        List<String> out = new ArrayList<>();
        Iterator<String> it = state.names().get(30, TimeUnit.SECONDS);
        while (it.hasNext()) out.add(it.next());
        java.util.Collections.sort(out);
        return out;
    }

    static void awaitFile(java.nio.file.Path path) throws InterruptedException {
        while (!java.nio.file.Files.exists(path)) Thread.sleep(50);
    }

    static void restart(String servers, String znode, java.nio.file.Path dir) throws Exception {
        State state = new ZooKeeperState(servers, 10, TimeUnit.SECONDS, znode);
        state.store(state.fetch("kept").get().mutate("before".getBytes())).get();
        System.out.println("STORED");
        awaitFile(dir.resolve("down"));
        Future<Variable> pending = state.fetch("kept");
        System.out.println("FETCHING");
        Variable kept = pending.get();
        check("fetched-across-restart", text(kept));
        check("stored-after-restart", text(state.store(kept.mutate("after".getBytes())).get()));
        check("fetched-after-restart", text(state.fetch("kept").get()));
        System.out.println("DONE");
    }

    public static void main(String[] args) throws Exception {
        if (args[0].equals("restart")) {
            restart(args[1], args[2], java.nio.file.Paths.get(args[3]));
            return;
        }
        String servers = args[0], znode = args[1];
        State state = args.length > 3
                ? new ZooKeeperState(servers, 10, TimeUnit.SECONDS, znode, args[2], args[3].getBytes())
                : new ZooKeeperState(servers, 10, TimeUnit.SECONDS, znode);

        check("names-before", names(state));

        // A name never stored: a fresh, empty variable.
        Variable fresh = state.fetch("job-a").get();
        check("fresh-value-length", fresh.value().length);

        // Store and fetch back.
        Variable stored = state.store(fresh.mutate("alpha".getBytes())).get();
        check("stored-null", stored == null);
        check("stored-value", text(stored));
        check("fetched-value", text(state.fetch("job-a").get(30, TimeUnit.SECONDS)));

        // A second writer holding the old version loses: store answers null.
        Variable stale = state.store(fresh.mutate("beta".getBytes())).get();
        check("stale-store-null", stale == null);
        check("after-stale-value", text(state.fetch("job-a").get()));

        // The current version wins, even twice in a row.
        Variable v2 = state.store(stored.mutate("gamma".getBytes())).get();
        check("v2-value", text(v2));
        Variable v3 = state.store(v2.mutate("delta".getBytes())).get();
        check("v3-value", text(v3));
        check("v2-now-stale", state.store(v2.mutate("epsilon".getBytes())).get() == null);

        // Mutate returns a new Variable and leaves the original alone.
        Variable mutated = v3.mutate("zeta".getBytes());
        check("mutate-keeps-original", text(v3) + "/" + text(mutated));

        // More names, including one whose value is binary.
        byte[] binary = new byte[256];
        for (int i = 0; i < binary.length; i++) binary[i] = (byte) i;
        Variable b = state.store(state.fetch("job-b").get().mutate(binary)).get();
        byte[] back = state.fetch("job-b").get().value();
        check("binary-roundtrip", java.util.Arrays.equals(binary, back) && b != null);
        state.store(state.fetch("job-c").get().mutate("c".getBytes())).get();
        check("names", names(state));

        // Expunge: a stale version is refused; the current one removes it.
        check("expunge-stale", state.expunge(v2).get());
        Variable current = state.fetch("job-a").get();
        check("expunge-current", state.expunge(current).get());
        check("expunge-again", state.expunge(current).get());
        check("fetch-after-expunge-length", state.fetch("job-a").get().value().length);
        check("names-after-expunge", names(state));

        // The Future API: done after get, never cancelled.
        Future<Variable> f = state.fetch("job-c");
        Variable c = f.get(30, TimeUnit.SECONDS);
        check("future-done", f.isDone() + "/" + f.isCancelled() + "/" + text(c));

        // Concurrent writers on one version: exactly one wins.
        Variable base = state.fetch("race").get();
        List<Future<Variable>> racers = new ArrayList<>();
        for (int i = 0; i < 8; i++) racers.add(state.store(base.mutate(("r" + i).getBytes())));
        int winners = 0;
        for (Future<Variable> r : racers) if (r.get() != null) winners++;
        check("race-winners", winners);

        // A second State on the same znode sees the same data (as another
        // scheduler instance, or a restart, would).
        State other = new ZooKeeperState(servers, 10, TimeUnit.SECONDS, znode);
        check("other-sees", text(other.fetch("job-c").get()));
        System.out.println("DONE");
    }
}
