package veto.log4shell.app;

import java.io.PrintStream;
import java.time.LocalDateTime;
import java.time.format.DateTimeFormatter;

/**
 * A logger that behaves like log4j-core 2.14.1 where it matters for CVE-2021-44228.
 *
 * <p>log4j 2.14.1 formats the message ("{}" placeholders filled with the caller's
 * arguments), then its PatternLayout's message converter runs the configuration's
 * substitutor over the formatted text whenever it contains "${". Attacker-controlled
 * arguments are therefore interpreted as lookups. This class reproduces that ordering and
 * the substitutor's semantics ({@link Interpolator}); the JNDI resolution itself is the
 * JDK's own {@code javax.naming.InitialContext.lookup}.
 */
public final class Logger {
    private final String name;
    private final PrintStream out;
    private final Interpolator interpolator;

    public Logger(String name, PrintStream out, Interpolator interpolator) {
        this.name = name;
        this.out = out;
        this.interpolator = interpolator;
    }

    /** Logs at INFO, like log4j's {@code logger.info(format, args...)}. */
    public void info(String format, Object... args) {
        String message = formatParameters(format, args);
        // The vulnerable step: lookups in the *formatted* message (formatMsgNoLookups=false
        // was the default before 2.15.0).
        if (message.contains("${")) {
            message = interpolator.substitute(message);
        }
        String time = LocalDateTime.now().format(DateTimeFormatter.ISO_LOCAL_TIME);
        synchronized (out) {
            out.println(time + " INFO  " + name + " - " + message);
            out.flush();
        }
    }

    /** log4j's ParameterizedMessage: each "{}" takes the next argument. */
    static String formatParameters(String format, Object... args) {
        StringBuilder sb = new StringBuilder();
        int arg = 0;
        for (int i = 0; i < format.length(); i++) {
            char c = format.charAt(i);
            if (c == '{' && i + 1 < format.length() && format.charAt(i + 1) == '}' && arg < args.length) {
                sb.append(String.valueOf(args[arg++]));
                i++;
            } else {
                sb.append(c);
            }
        }
        return sb.toString();
    }
}
