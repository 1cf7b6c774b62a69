// Loads libmesos the way every framework does (MesosNativeLibrary.load(), which
// reads MESOS_NATIVE_JAVA_LIBRARY, then MESOS_NATIVE_LIBRARY, then falls back to
// System.loadLibrary("mesos")) and prints what the bindings see:
//
//   VERSION <major.minor.patch>     MesosNativeLibrary.version()
//   LOADED <true|false>             the 'loaded' flag JNI_OnLoad sets
//
// With the argument "unsupported", constructs the classes mesos-rs does not
// implement and prints the exception each constructor throws:
//
//   UNSUPPORTED <class> <exception>

import java.lang.reflect.Field;
import java.util.HashSet;
import java.util.concurrent.TimeUnit;

import org.apache.mesos.Log;
import org.apache.mesos.MesosNativeLibrary;
import org.apache.mesos.state.LevelDBState;
import org.apache.mesos.state.LogState;

public class LoadCheck {
    public static void main(String[] args) throws Exception {
        MesosNativeLibrary.load();
        MesosNativeLibrary.Version v = MesosNativeLibrary.version();
        System.out.println("VERSION " + v.major + "." + v.minor + "." + v.patch);
        Field loaded = MesosNativeLibrary.class.getDeclaredField("loaded");
        loaded.setAccessible(true);
        System.out.println("LOADED " + loaded.getBoolean(null));

        if (args.length > 0 && args[0].equals("unsupported")) {
            try {
                new LevelDBState("/tmp/leveldb-state");
                System.out.println("UNSUPPORTED LevelDBState constructed!");
            } catch (Exception e) {
                System.out.println("UNSUPPORTED LevelDBState " + e);
            }
            try {
                new LogState("127.0.0.1:2181", 10, TimeUnit.SECONDS, "/log", 1, "/tmp/log");
                System.out.println("UNSUPPORTED LogState constructed!");
            } catch (Exception e) {
                System.out.println("UNSUPPORTED LogState " + e);
            }
            try {
                new Log(1, "/tmp/log", new HashSet<String>());
                System.out.println("UNSUPPORTED Log constructed!");
            } catch (Exception e) {
                System.out.println("UNSUPPORTED Log " + e);
            }
        }
    }
}
