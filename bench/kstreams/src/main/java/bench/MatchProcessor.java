package bench;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.nio.charset.StandardCharsets;
import java.time.Instant;
import java.util.HashMap;
import java.util.HashSet;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.atomic.AtomicLong;
import org.apache.kafka.common.header.Headers;
import org.apache.kafka.common.header.internals.RecordHeaders;
import org.apache.kafka.streams.processor.api.Processor;
import org.apache.kafka.streams.processor.api.ProcessorContext;
import org.apache.kafka.streams.processor.api.Record;
import org.apache.kafka.streams.processor.api.RecordMetadata;
import org.apache.kafka.streams.state.KeyValueStore;

/**
 * The catering process manager as a Kafka Streams processor: one instance per task (input
 * partition), the process record JSON of each order in a changelog-backed KeyValueStore.
 * Rules 1-5 of DOMAIN.md; rules 6-7 (deadline, retention) are not implemented.
 */
final class MatchProcessor implements Processor<byte[], byte[], byte[], byte[]> {
    static final String STORE = "process-store";
    static final String COMMANDS_SINK = "commands-sink";
    static final String DLQ_SINK = "dlq-sink";

    static final AtomicLong APPLIED = new AtomicLong();
    static final AtomicLong COMMANDS = new AtomicLong();
    static final AtomicLong DUPLICATES = new AtomicLong();
    static final AtomicLong TERMINAL = new AtomicLong();
    static final AtomicLong OTHER_TYPE = new AtomicLong();
    static final AtomicLong DEAD_LETTERED = new AtomicLong();

    private final int maxHistory;
    private ProcessorContext<byte[], byte[]> ctx;
    private KeyValueStore<String, String> store;

    MatchProcessor(int maxHistory) { this.maxHistory = maxHistory; }

    @Override
    public void init(ProcessorContext<byte[], byte[]> context) {
        this.ctx = context;
        this.store = context.getStateStore(STORE);
    }

    @Override
    public void process(Record<byte[], byte[]> r) {
        Domain.Event ev;
        try {
            ev = Domain.decode(r.key(), r.value());
        } catch (Domain.Malformed m) {
            deadLetter(r, m.getMessage());
            return;
        }
        if (!Domain.HANDLED.contains(ev.type())) {
            OTHER_TYPE.incrementAndGet(); // someone else's event on a shared topic
            return;
        }
        String stored = store.get(ev.orderId());
        ObjectNode rec;
        ArrayNode history;
        if (stored == null) {
            rec = Domain.JSON.createObjectNode();
            rec.put("schema", 1);
            rec.put("order_id", ev.orderId());
            history = rec.putArray("history");
        } else {
            try {
                rec = (ObjectNode) Domain.JSON.readTree(stored);
            } catch (JsonProcessingException e) {
                throw new IllegalStateException("process record for order " + ev.orderId() + " is not JSON", e);
            }
            history = (ArrayNode) rec.get("history");
        }

        // Fold the history: applied ids, terminal status, per-menu answers.
        Set<String> ids = new HashSet<>();
        boolean terminal = false;
        Map<String, int[]> menus = new HashMap<>(); // menu -> {customer 0/1, caterer 0 none/1 confirmed/2 declined}
        for (JsonNode e : history) {
            String type = e.get("type").asText();
            ids.add(e.get("id").asText());
            String menu = e.path("menu_id").asText("");
            switch (type) {
                case Domain.CUSTOMER_CONFIRMED -> menus.computeIfAbsent(menu, m -> new int[2])[0] = 1;
                case Domain.CATERER_CONFIRMED -> menus.computeIfAbsent(menu, m -> new int[2])[1] = 1;
                case Domain.CATERER_DECLINED -> menus.computeIfAbsent(menu, m -> new int[2])[1] = 2;
                case Domain.CONFIRM_ORDER_ISSUED, Domain.MATCH_EXPIRED -> terminal = true;
                default -> { }
            }
        }
        if (ids.contains(ev.id())) { // rule 1
            DUPLICATES.incrementAndGet();
            return;
        }
        if (terminal) { // rule 5
            TERMINAL.incrementAndGet();
            return;
        }
        if (history.size() >= maxHistory) {
            deadLetter(r, "process history full");
            return;
        }
        String now = Instant.now().toString();
        append(history, ev.id(), ev.type(), ev.menuId(), now);
        int[] m = menus.computeIfAbsent(ev.menuId(), k -> new int[2]);
        switch (ev.type()) {
            case Domain.CUSTOMER_CONFIRMED -> m[0] = 1; // rule 2: accumulates
            case Domain.CATERER_CONFIRMED -> m[1] = 1; // rule 3: latest answer stands
            case Domain.CATERER_DECLINED -> m[1] = 2;
            default -> { }
        }
        APPLIED.incrementAndGet();
        if (m[0] == 1 && m[1] == 1) { // rule 4
            append(history, Uuid5.commandId(ev.orderId()), Domain.CONFIRM_ORDER_ISSUED, ev.menuId(), now);
            Headers h = new RecordHeaders();
            h.add("type", "ConfirmOrder".getBytes(StandardCharsets.UTF_8));
            byte[] key = ev.orderId().getBytes(StandardCharsets.UTF_8);
            ctx.forward(new Record<>(key, Domain.confirmOrder(ev.orderId(), ev.menuId(), ev.id(), now), r.timestamp(), h), COMMANDS_SINK);
            COMMANDS.incrementAndGet();
        }
        try {
            store.put(ev.orderId(), Domain.JSON.writeValueAsString(rec));
        } catch (JsonProcessingException e) {
            throw new IllegalStateException(e);
        }
    }

    private static void append(ArrayNode history, String id, String type, String menu, String at) {
        ObjectNode e = history.addObject();
        e.put("id", id);
        e.put("type", type);
        e.put("menu_id", menu);
        e.put("at", at);
    }

    /** The original key, value and headers, plus the reason and the coordinates. */
    private void deadLetter(Record<byte[], byte[]> r, String reason) {
        Headers h = new RecordHeaders(r.headers().toArray());
        RecordMetadata md = ctx.recordMetadata().orElseThrow();
        h.add("dlq-reason", reason.getBytes(StandardCharsets.UTF_8));
        h.add("dlq-topic", md.topic().getBytes(StandardCharsets.UTF_8));
        h.add("dlq-partition", Integer.toString(md.partition()).getBytes(StandardCharsets.UTF_8));
        h.add("dlq-offset", Long.toString(md.offset()).getBytes(StandardCharsets.UTF_8));
        ctx.forward(new Record<>(r.key(), r.value(), r.timestamp(), h), DLQ_SINK);
        DEAD_LETTERED.incrementAndGet();
    }

    static String stats() {
        return "applied=" + APPLIED.get() + " commands=" + COMMANDS.get() + " duplicates=" + DUPLICATES.get()
                + " terminal=" + TERMINAL.get() + " other_type=" + OTHER_TYPE.get() + " dead_lettered=" + DEAD_LETTERED.get();
    }
}
