package veto.log4shell.app;

import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import java.io.IOException;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.URLDecoder;
import java.nio.charset.StandardCharsets;
import java.util.concurrent.Executors;
import javax.naming.InitialContext;

/**
 * The vulnerable service: an HTTP server on 127.0.0.1 that logs the request's query
 * parameter "q" through a logger with log4j 2.14.1's message lookups.
 *
 * <p>Usage: VulnerableApp [port]; port 0 (the default) picks a free one. When ready it prints
 * "VULNERABLE-APP LISTENING 127.0.0.1:&lt;port&gt; PID &lt;pid&gt;" on stdout.
 */
public final class VulnerableApp {
    private static final Logger LOG = new Logger(
            "VulnerableApp",
            System.out,
            new Interpolator(
                    name -> new InitialContext().lookup(name),
                    (message, cause) -> {
                        synchronized (System.err) {
                            System.err.println("log4j-status ERROR " + message + " " + cause);
                            System.err.flush();
                        }
                    }));

    public static void main(String[] args) throws IOException {
        int port = args.length > 0 ? Integer.parseInt(args[0]) : 0;
        InetAddress loopback = InetAddress.getByName("127.0.0.1");
        HttpServer server = HttpServer.create(new InetSocketAddress(loopback, port), 16);
        server.createContext("/", VulnerableApp::handle);
        server.setExecutor(Executors.newFixedThreadPool(4));
        server.start();
        System.out.println("VULNERABLE-APP LISTENING 127.0.0.1:" + server.getAddress().getPort()
                + " PID " + ProcessHandle.current().pid());
        System.out.flush();
    }

    private static void handle(HttpExchange exchange) throws IOException {
        try {
            String q = queryParameter(exchange.getRequestURI().getRawQuery(), "q");
            LOG.info("{} {} q={}", exchange.getRequestMethod(), exchange.getRequestURI().getPath(), q);
            byte[] body = "ok\n".getBytes(StandardCharsets.UTF_8);
            exchange.sendResponseHeaders(200, body.length);
            try (OutputStream os = exchange.getResponseBody()) {
                os.write(body);
            }
        } catch (RuntimeException e) {
            e.printStackTrace();
            exchange.sendResponseHeaders(500, -1);
        } finally {
            exchange.close();
        }
    }

    static String queryParameter(String rawQuery, String key) {
        if (rawQuery == null) {
            return null;
        }
        for (String pair : rawQuery.split("&")) {
            int eq = pair.indexOf('=');
            String k = eq < 0 ? pair : pair.substring(0, eq);
            if (URLDecoder.decode(k, StandardCharsets.UTF_8).equals(key)) {
                return eq < 0 ? "" : URLDecoder.decode(pair.substring(eq + 1), StandardCharsets.UTF_8);
            }
        }
        return null;
    }
}
