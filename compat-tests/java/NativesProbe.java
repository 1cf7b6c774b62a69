// Calls every native method of the classes named on the command line, on real
// objects, and prints how each call went:
//
//   NATIVE <class>.<method><descriptor> BOUND <what happened>
//   NATIVE <class>.<method><descriptor> UNBOUND <the UnsatisfiedLinkError>
//
// The JVM binds a native when it is first called, so calling is the proof that
// libmesos exports it under a name the JVM finds. The objects are allocated
// without running their constructors (their native handles are 0) and the
// arguments are null/0/false: each native must answer with a Java exception
// (IllegalStateException for a missing handle, NullPointerException for a null
// argument, UnsupportedOperationException for what mesos-rs does not provide)
// or a value, and never crash the JVM.

import java.lang.reflect.Field;
import java.lang.reflect.InvocationTargetException;
import java.lang.reflect.Method;
import java.lang.reflect.Modifier;

public class NativesProbe {
    public static void main(String[] args) throws Exception {
        org.apache.mesos.MesosNativeLibrary.load();
        Field unsafeField = Class.forName("sun.misc.Unsafe").getDeclaredField("theUnsafe");
        unsafeField.setAccessible(true);
        Object unsafe = unsafeField.get(null);
        Method allocate = unsafe.getClass().getMethod("allocateInstance", Class.class);

        int bound = 0, unbound = 0;
        for (String name : args) {
            Class<?> cls = Class.forName(name);
            for (Method m : cls.getDeclaredMethods()) {
                if (!Modifier.isNative(m.getModifiers())) {
                    continue;
                }
                m.setAccessible(true);
                // An abstract class is instantiated through a concrete subclass.
                Class<?> concrete = Modifier.isAbstract(cls.getModifiers())
                        ? Class.forName("org.apache.mesos.state.ZooKeeperState") : cls;
                Object target = Modifier.isStatic(m.getModifiers()) ? null : allocate.invoke(unsafe, concrete);
                Class<?>[] types = m.getParameterTypes();
                Object[] values = new Object[types.length];
                for (int i = 0; i < types.length; i++) {
                    values[i] = defaultValue(types[i]);
                }
                String what;
                boolean ok = true;
                try {
                    Object result = m.invoke(target, values);
                    what = "returned " + (result == null ? "null" : result.getClass().getName());
                } catch (InvocationTargetException e) {
                    Throwable cause = e.getCause();
                    if (cause instanceof UnsatisfiedLinkError) {
                        ok = false;
                    }
                    what = "threw " + cause.getClass().getName() + ": " + cause.getMessage();
                }
                System.out.println("NATIVE " + cls.getName() + "." + m.getName() + descriptor(m)
                        + (ok ? " BOUND " : " UNBOUND ") + what);
                if (ok) bound++; else unbound++;
            }
        }
        System.out.println("SUMMARY bound=" + bound + " unbound=" + unbound);
    }

    static Object defaultValue(Class<?> type) {
        if (!type.isPrimitive()) return null;
        if (type == boolean.class) return false;
        if (type == int.class) return 0;
        if (type == long.class) return 0L;
        if (type == short.class) return (short) 0;
        if (type == byte.class) return (byte) 0;
        if (type == char.class) return (char) 0;
        if (type == float.class) return 0f;
        return 0d;
    }

    static String descriptor(Method m) {
        StringBuilder b = new StringBuilder("(");
        for (Class<?> t : m.getParameterTypes()) b.append(typeDescriptor(t));
        return b.append(")").append(typeDescriptor(m.getReturnType())).toString();
    }

    static String typeDescriptor(Class<?> t) {
        if (t.isArray()) return t.getName().replace('.', '/');
        if (t == void.class) return "V";
        if (t == boolean.class) return "Z";
        if (t == byte.class) return "B";
        if (t == char.class) return "C";
        if (t == short.class) return "S";
        if (t == int.class) return "I";
        if (t == long.class) return "J";
        if (t == float.class) return "F";
        if (t == double.class) return "D";
        return "L" + t.getName().replace('.', '/') + ";";
    }
}
