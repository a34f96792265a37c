package veto.log4shell.app;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;

/**
 * Test driver for the lookup parser: reads one message per line on stdin and prints the
 * substituted text on stdout. JNDI is not contacted: a jndi lookup of NAME yields
 * "[jndi NAME]", so tests see exactly which name the vulnerable logger would resolve.
 * A name ending in "/fail" makes the lookup throw, to exercise the failure path.
 */
public final class LookupCheck {
    public static void main(String[] args) throws IOException {
        Interpolator interpolator = new Interpolator(
                name -> {
                    if (name.endsWith("/fail")) {
                        throw new javax.naming.CommunicationException("refused");
                    }
                    return "[jndi " + name + "]";
                },
                (message, cause) -> System.err.println("status: " + message));
        BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
        String line;
        while ((line = in.readLine()) != null) {
            System.out.println(interpolator.substitute(line));
        }
        System.out.flush();
    }
}
