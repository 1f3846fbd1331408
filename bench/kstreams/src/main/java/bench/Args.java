package bench;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/** A tiny --flag value parser shared by the main classes. */
final class Args {
    private final Map<String, String> flags = new HashMap<>();
    final List<String> positional = new ArrayList<>();

    Args(String[] argv) {
        for (int i = 0; i < argv.length; i++) {
            String a = argv[i];
            if (a.startsWith("--")) {
                String k = a.substring(2);
                int eq = k.indexOf('=');
                if (eq >= 0) {
                    flags.put(k.substring(0, eq), k.substring(eq + 1));
                } else if (i + 1 < argv.length && !argv[i + 1].startsWith("--")) {
                    flags.put(k, argv[++i]);
                } else {
                    flags.put(k, "true");
                }
            } else {
                positional.add(a);
            }
        }
    }

    String get(String k, String def) { return flags.getOrDefault(k, def); }

    String req(String k) {
        String v = flags.get(k);
        if (v == null || v.isEmpty()) {
            throw new IllegalArgumentException("missing --" + k);
        }
        return v;
    }

    int i(String k, int def) { return Integer.parseInt(get(k, Integer.toString(def))); }

    long l(String k, long def) { return Long.parseLong(get(k, Long.toString(def))); }

    double d(String k, double def) { return Double.parseDouble(get(k, Double.toString(def))); }

    boolean b(String k) { return Boolean.parseBoolean(get(k, "false")); }
}
