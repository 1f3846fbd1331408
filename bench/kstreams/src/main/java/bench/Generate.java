package bench;

import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.BufferedWriter;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.SplittableRandom;
import java.util.UUID;

/**
 * Writes a deterministic workload (JSON lines of events, DOMAIN.md shape) and what a correct
 * process manager must make of it.
 *
 * <pre>java bench.Generate --orders 20000 --seed 42 --out work.jsonl --expected work.expected.json</pre>
 *
 * Each order follows one scenario (simple match, multi-menu match, decline then re-confirm,
 * declined, withdrawn, customer only, caterer only); on top, some events are resent with the same
 * id (duplicates), some matched orders get stragglers after the match, a few events of another
 * team's type are mixed in, and a few malformed lines (DLQ) too. Orders' events are interleaved
 * in time; each order's own events keep their order. Publish with
 * {@code catering publish --raw --key bench-malformed --file work.jsonl}: --raw so that the
 * malformed lines are sent too (lines without an order_id get the --key).
 *
 * The expected figures come from an independent fold of the rules over the file, per order in
 * file order (the per-partition order a consumer sees).
 */
public final class Generate {
    private record Line(double at, String json, String orderId) {}

    public static void main(String[] argv) throws IOException {
        Args a = new Args(argv);
        int orders = a.i("orders", 20000);
        long seed = a.l("seed", 42);
        Path out = Path.of(a.req("out"));
        Path expected = Path.of(a.req("expected"));
        SplittableRandom rnd = new SplittableRandom(seed);
        Instant base = Instant.parse("2026-11-25T08:00:00Z");
        double span = orders / 50.0; // seconds of "business time" the orders start in
        List<Line> lines = new ArrayList<>();
        Map<String, Integer> scenarios = new HashMap<>();

        for (int n = 0; n < orders; n++) {
            String order = "ord-" + seed + "-" + n;
            double t = rnd.nextDouble() * span;
            boolean defaultMenu = rnd.nextDouble() < 0.15; // no menu_id: the order's single default menu
            String m1 = defaultMenu ? null : "menu-" + (char) ('a' + rnd.nextInt(4));
            String m2 = defaultMenu ? null : (m1.equals("menu-e") ? "menu-a" : "menu-e");
            List<String[]> ev = new ArrayList<>(); // {type, menu}
            double s = rnd.nextDouble();
            String scenario;
            if (s < 0.55) {
                scenario = "match";
                if (rnd.nextBoolean()) {
                    ev.add(new String[] {Domain.CUSTOMER_CONFIRMED, m1});
                    ev.add(new String[] {Domain.CATERER_CONFIRMED, m1});
                } else {
                    ev.add(new String[] {Domain.CATERER_CONFIRMED, m1});
                    ev.add(new String[] {Domain.CUSTOMER_CONFIRMED, m1});
                }
            } else if (s < 0.65 && !defaultMenu) {
                scenario = "multi_menu_match";
                ev.add(new String[] {Domain.CUSTOMER_CONFIRMED, m1});
                ev.add(new String[] {Domain.CATERER_CONFIRMED, m2});
                ev.add(new String[] {Domain.CUSTOMER_CONFIRMED, m2});
            } else if (s < 0.75) {
                scenario = "decline_then_reconfirm";
                ev.add(new String[] {Domain.CATERER_CONFIRMED, m1});
                ev.add(new String[] {Domain.CATERER_DECLINED, m1});
                ev.add(new String[] {Domain.CUSTOMER_CONFIRMED, m1});
                ev.add(new String[] {Domain.CATERER_CONFIRMED, m1});
            } else if (s < 0.83) {
                scenario = "declined";
                ev.add(new String[] {Domain.CUSTOMER_CONFIRMED, m1});
                ev.add(new String[] {Domain.CATERER_DECLINED, m1});
            } else if (s < 0.88) {
                scenario = "withdrawn";
                ev.add(new String[] {Domain.CATERER_CONFIRMED, m1});
                ev.add(new String[] {Domain.CATERER_DECLINED, m1});
                ev.add(new String[] {Domain.CUSTOMER_CONFIRMED, m1});
            } else if (s < 0.94) {
                scenario = "customer_only";
                ev.add(new String[] {Domain.CUSTOMER_CONFIRMED, m1});
                if (!defaultMenu && rnd.nextBoolean()) {
                    ev.add(new String[] {Domain.CUSTOMER_CONFIRMED, m2});
                }
            } else {
                scenario = "caterer_only";
                ev.add(new String[] {Domain.CATERER_CONFIRMED, m1});
            }
            scenarios.merge(scenario, 1, Integer::sum);
            if (rnd.nextDouble() < 0.05) { // a straggler (after a match it is skipped as terminal)
                ev.add(new String[] {Domain.CATERER_DECLINED, m1});
            }
            if (rnd.nextDouble() < 0.02) { // another team's event on the shared topic
                ev.add(rnd.nextInt(ev.size() + 1), new String[] {"MenuOffered", m1});
            }
            List<String> ids = new ArrayList<>();
            List<String> jsons = new ArrayList<>();
            for (String[] e : ev) {
                String id = new UUID(rnd.nextLong(), rnd.nextLong()).toString();
                ids.add(id);
                t += 0.05 + rnd.nextDouble() * 30;
                String json = event(id, e[0], order, e[1], base.plusMillis((long) (t * 1000)));
                jsons.add(json);
                lines.add(new Line(t, json, order));
            }
            // Duplicates: an upstream retry resends an event later, same id.
            for (int i = 0; i < jsons.size(); i++) {
                if (rnd.nextDouble() < 0.08) {
                    double later = lines.get(lines.size() - jsons.size() + i).at() + 0.01 + rnd.nextDouble() * 40;
                    lines.add(new Line(later, jsons.get(i), order));
                }
            }
            // Malformed records go to the DLQ whatever their position.
            if (rnd.nextDouble() < 0.005) {
                String bad = switch (rnd.nextInt(4)) {
                    case 0 -> "{\"type\":\"CustomerConfirmedMenu\",\"order_id\":\"" + order + "\",\"menu_id\":\"menu-a\"}"; // no id
                    case 1 -> "{\"id\":\"" + new UUID(rnd.nextLong(), rnd.nextLong()) + "\",\"type\":\"\",\"order_id\":\"" + order + "\"}"; // empty type
                    case 2 -> "{\"id\":\"" + "x".repeat(129) + "\",\"type\":\"CustomerConfirmedMenu\",\"order_id\":\"" + order + "\"}"; // id over the limit
                    default -> "not json at all, order " + order; // not an object: keyed by --key
                };
                lines.add(new Line(t + rnd.nextDouble() * 10, bad, order));
            }
        }
        // Stable sort: ties keep generation order, so each order's events stay in order.
        lines.sort((x, y) -> Double.compare(x.at(), y.at()));

        // The oracle: fold the rules per order over the file order.
        Map<String, OracleState> st = new HashMap<>();
        long malformed = 0, otherType = 0, dup = 0, terminal = 0, applied = 0, confirms = 0;
        try (BufferedWriter w = Files.newBufferedWriter(out, StandardCharsets.UTF_8)) {
            for (Line l : lines) {
                w.write(l.json());
                w.write('\n');
                Domain.Event e;
                try {
                    e = Domain.decode(keyFor(l.json()).getBytes(StandardCharsets.UTF_8), l.json().getBytes(StandardCharsets.UTF_8));
                } catch (Domain.Malformed m) {
                    malformed++;
                    continue;
                }
                if (!Domain.HANDLED.contains(e.type())) {
                    otherType++;
                    continue;
                }
                OracleState o = st.computeIfAbsent(e.orderId(), k -> new OracleState());
                if (!o.ids.add(e.id())) {
                    dup++;
                    continue;
                }
                if (o.confirmed) {
                    o.ids.remove(e.id()); // a skipped event does not enter the history
                    terminal++;
                    continue;
                }
                applied++;
                switch (e.type()) {
                    case Domain.CUSTOMER_CONFIRMED -> o.customer.add(e.menuId());
                    case Domain.CATERER_CONFIRMED -> o.caterer.put(e.menuId(), true);
                    default -> o.caterer.put(e.menuId(), false);
                }
                if (o.customer.contains(e.menuId()) && Boolean.TRUE.equals(o.caterer.get(e.menuId()))) {
                    o.confirmed = true;
                    confirms++;
                }
            }
        }
        String exp = String.format(
                "{\"orders\":%d,\"seed\":%d,\"events\":%d,\"expected_confirm_orders\":%d,\"expected_dead_lettered\":%d,"
                        + "\"expected_applied\":%d,\"expected_duplicates\":%d,\"expected_terminal\":%d,\"expected_other_type\":%d,"
                        + "\"processes\":%d,\"scenarios\":%s}%n",
                orders, seed, lines.size(), confirms, malformed, applied, dup, terminal, otherType, st.size(),
                Domain.JSON.writeValueAsString(scenarios));
        Files.writeString(expected, exp);
        System.out.print(exp);
    }

    private static final class OracleState {
        final Set<String> ids = new HashSet<>();
        final Set<String> customer = new HashSet<>();
        final Map<String, Boolean> caterer = new HashMap<>();
        boolean confirmed;
    }

    /** The key catering publish --raw --key bench-malformed gives a line. */
    private static String keyFor(String json) {
        try {
            var n = Domain.JSON.readTree(json);
            if (n != null && n.path("order_id").isTextual() && !n.path("order_id").asText().isEmpty()) {
                return n.path("order_id").asText();
            }
        } catch (Exception ignored) {
            // not JSON: the --key
        }
        return "bench-malformed";
    }

    private static String event(String id, String type, String order, String menu, Instant at) {
        ObjectNode o = Domain.JSON.createObjectNode();
        o.put("id", id);
        o.put("type", type);
        o.put("order_id", order);
        if (menu != null) {
            o.put("menu_id", menu);
        }
        o.put("occurred_at", at.toString());
        o.putObject("data");
        return o.toString();
    }
}
