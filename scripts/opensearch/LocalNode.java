// A single local OpenSearch node via the codelibs OpenSearchRunner (official org.opensearch jars).
// Why not OpenSearchRunner.main: it exits 1 *without* printing why a start failed, and silently moves
// to the next free HTTP port when the requested one is taken. This prints the cause and fails instead.
// Compiled and run by opensearch.sh; arguments are OpenSearchRunner's (-basePath, -confPath, ...).
import org.codelibs.opensearch.runner.OpenSearchRunner;

public final class LocalNode {
    public static void main(final String[] args) throws Exception {
        final OpenSearchRunner runner = new OpenSearchRunner();
        runner.setMaxHttpPort(-1); // exactly baseHttpPort + 1, or fail
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            try {
                runner.close();
            } catch (final Exception e) {
                System.err.println("error while stopping OpenSearch: " + e);
            }
        }));
        try {
            runner.build(args);
        } catch (final Throwable t) {
            System.err.println("FATAL: OpenSearch failed to start: " + t);
            for (Throwable c = t.getCause(); c != null; c = c.getCause()) {
                System.err.println("  caused by: " + c);
            }
            t.printStackTrace();
            System.exit(1);
        }
        System.out.println("LocalNode: OpenSearch started");
        while (!runner.isClosed()) {
            Thread.sleep(2000);
        }
    }
}
