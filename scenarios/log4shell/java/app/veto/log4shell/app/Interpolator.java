package veto.log4shell.app;

import java.text.SimpleDateFormat;
import java.util.ArrayDeque;
import java.util.Date;
import java.util.Deque;
import java.util.Locale;

/**
 * The "${prefix:name:-default}" substitution of log4j-core 2.14.1 (StrSubstitutor plus the
 * Interpolator's lookup table), written anew for this scenario.
 *
 * <p>Semantics reproduced, because real payloads relied on them:
 * <ul>
 *   <li>variables nest and the inner ones are resolved first, so the variable's own name can
 *       be built by lookups: {@code ${${lower:J}ndi:...}};</li>
 *   <li>":-" separates a default used when the lookup yields nothing:
 *       {@code ${::-j}} is the variable ":" (no such lookup) with default "j";
 *       {@code ${env:NOPE:-j}} likewise;</li>
 *   <li>a resolved value is itself substituted again (with cycle protection);</li>
 *   <li>an unresolvable variable stays in the text as written (after inner substitution);</li>
 *   <li>a failing lookup (e.g. JNDI to a closed port) is reported on the status logger and
 *       treated as unresolvable: the application keeps running.</li>
 * </ul>
 */
public final class Interpolator {
    /** Resolves a JNDI name; the application uses the JDK's InitialContext. */
    public interface Jndi {
        Object lookup(String name) throws Exception;
    }

    private final Jndi jndi;
    private final StatusLogger status;

    /** Where log4j's StatusLogger would report lookup failures. */
    public interface StatusLogger {
        void error(String message, Throwable cause);
    }

    public Interpolator(Jndi jndi, StatusLogger status) {
        this.jndi = jndi;
        this.status = status;
    }

    /** Substitutes every variable in {@code text}. */
    public String substitute(String text) {
        return substitute(text, new ArrayDeque<>());
    }

    private String substitute(String text, Deque<String> resolving) {
        StringBuilder out = new StringBuilder();
        int i = 0;
        while (i < text.length()) {
            int start = text.indexOf("${", i);
            if (start < 0) {
                out.append(text, i, text.length());
                break;
            }
            int end = matchingClose(text, start);
            if (end < 0) { // unterminated: log4j leaves the rest as it is
                out.append(text, i, text.length());
                break;
            }
            out.append(text, i, start);
            String inner = substitute(text.substring(start + 2, end), resolving);
            out.append(resolveVariable(inner, resolving));
            i = end + 1;
        }
        return out.toString();
    }

    /** Index of the '}' closing the "${" at {@code start}, honouring nesting; -1 if none. */
    static int matchingClose(String text, int start) {
        int depth = 0;
        for (int i = start; i < text.length(); i++) {
            if (text.startsWith("${", i)) {
                depth++;
                i++;
            } else if (text.charAt(i) == '}') {
                depth--;
                if (depth == 0) {
                    return i;
                }
            }
        }
        return -1;
    }

    private String resolveVariable(String variable, Deque<String> resolving) {
        String name = variable;
        String fallback = null;
        int delimiter = variable.indexOf(":-");
        if (delimiter >= 0) {
            name = variable.substring(0, delimiter);
            fallback = variable.substring(delimiter + 2);
        }
        if (resolving.contains(name)) { // a cycle: log4j refuses it and leaves the text
            return "${" + variable + "}";
        }
        String value = lookup(name);
        if (value == null) {
            return fallback != null ? fallback : "${" + variable + "}";
        }
        resolving.push(name);
        try {
            return substitute(value, resolving);
        } finally {
            resolving.pop();
        }
    }

    /** The Interpolator's table: "prefix:key"; no prefix means the (empty) property map. */
    String lookup(String name) {
        int colon = name.indexOf(':');
        if (colon < 0) {
            return null;
        }
        String prefix = name.substring(0, colon).toLowerCase(Locale.ROOT);
        String key = name.substring(colon + 1);
        switch (prefix) {
            case "lower":
                return key.toLowerCase(Locale.ROOT);
            case "upper":
                return key.toUpperCase(Locale.ROOT);
            case "env":
                return System.getenv(key);
            case "sys":
                return System.getProperty(key);
            case "java":
                return javaLookup(key);
            case "date":
                try {
                    return new SimpleDateFormat(key).format(new Date());
                } catch (IllegalArgumentException e) {
                    return null;
                }
            case "jndi":
                return jndiLookup(key);
            default:
                return null;
        }
    }

    private static String javaLookup(String key) {
        switch (key) {
            case "version":
                return "Java version " + System.getProperty("java.version");
            case "runtime":
                return System.getProperty("java.runtime.name");
            case "vm":
                return System.getProperty("java.vm.name");
            case "os":
                return System.getProperty("os.name") + " " + System.getProperty("os.version");
            default:
                return null;
        }
    }

    /** log4j's JndiLookup: a name without a scheme is taken relative to java:comp/env/. */
    private String jndiLookup(String key) {
        String name = key;
        if (!name.startsWith("java:") && !name.contains(":")) {
            name = "java:comp/env/" + name;
        }
        try {
            Object value = jndi.lookup(name);
            return value == null ? null : String.valueOf(value);
        } catch (Exception | LinkageError e) {
            status.error("Error looking up JNDI resource [" + name + "].", e);
            return null;
        }
    }
}
