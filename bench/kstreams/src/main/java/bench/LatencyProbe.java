package bench;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.UUID;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.locks.LockSupport;
import java.util.stream.Collectors;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.StringSerializer;

/**
 * End-to-end latency of a catering process manager, the same code for every system: produce
 * matching event pairs at a fixed rate, and read the commands topic read_committed; the latency
 * of an order is from the send of the event that completes the match (the ConfirmOrder's
 * causation_id) to the arrival of its committed ConfirmOrder.
 *
 * <pre>
 * java bench.LatencyProbe --brokers B --events-topic T --commands-topic C --rate 5000 [--seconds 20]
 *   [--warmup-seconds 5] [--drain-seconds 15] [--prefix lat-x] [--out result.json]
 * </pre>
 *
 * Order k sends CustomerConfirmedMenu then CatererConfirmedMenu (menu-a) in two consecutive
 * rate slots; the send time is taken just before producer.send. The first --warmup-seconds are
 * sent at the same rate but not measured (JIT, caches, connections). Prints and writes one JSON
 * line; p50_ms_per_5s, growing window after window, would mean the system falls behind the rate.
 */
public final class LatencyProbe {
    public static void main(String[] argv) throws Exception {
        Args a = new Args(argv);
        String brokers = a.req("brokers");
        String eventsTopic = a.req("events-topic");
        String commandsTopic = a.req("commands-topic");
        double rate = a.d("rate", 1000);
        double seconds = a.d("seconds", 20);
        double warmup = a.d("warmup-seconds", 5);
        long drainMs = a.l("drain-seconds", 15) * 1000;
        String prefix = a.get("prefix", "lat-" + System.currentTimeMillis());

        Map<String, Long> sentAt = new ConcurrentHashMap<>(); // causation id -> nanoTime
        List<Double> lat = new ArrayList<>();
        List<long[]> byWindow = new ArrayList<>(); // {send nanos, latency micros}
        AtomicLong unmatched = new AtomicLong();
        AtomicLong dupes = new AtomicLong();
        AtomicBoolean stop = new AtomicBoolean();

        Properties cp = new Properties();
        cp.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, brokers);
        cp.put(ConsumerConfig.ISOLATION_LEVEL_CONFIG, "read_committed");
        cp.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, "false");
        cp.put(ConsumerConfig.FETCH_MAX_WAIT_MS_CONFIG, 10);
        KafkaConsumer<byte[], byte[]> consumer = new KafkaConsumer<>(cp, new ByteArrayDeserializer(), new ByteArrayDeserializer());
        List<TopicPartition> tps = consumer.partitionsFor(commandsTopic).stream()
                .map(pi -> new TopicPartition(commandsTopic, pi.partition())).collect(Collectors.toList());
        consumer.assign(tps);
        consumer.seekToEnd(tps);
        tps.forEach(consumer::position); // fix the start before the first event is sent

        Thread reader = new Thread(() -> {
            java.util.Set<String> seen = new java.util.HashSet<>();
            while (!stop.get()) {
                for (ConsumerRecord<byte[], byte[]> r : consumer.poll(Duration.ofMillis(50))) {
                    long now = System.nanoTime();
                    String causation;
                    try {
                        causation = Domain.JSON.readTree(r.value()).path("causation_id").asText();
                    } catch (Exception e) {
                        unmatched.incrementAndGet();
                        continue;
                    }
                    if (causation.startsWith("warmup-")) {
                        continue; // sent before the measurement
                    }
                    Long t = sentAt.get(causation);
                    if (t == null) {
                        unmatched.incrementAndGet();
                    } else if (!seen.add(causation)) {
                        dupes.incrementAndGet();
                    } else {
                        synchronized (lat) {
                            lat.add((now - t) / 1e6);
                            byWindow.add(new long[] {t, (now - t) / 1000});
                        }
                    }
                }
            }
        }, "probe-reader");
        reader.start();

        Properties pp = new Properties();
        pp.put(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, brokers);
        pp.put(ProducerConfig.ACKS_CONFIG, "all");
        pp.put(ProducerConfig.LINGER_MS_CONFIG, 0);
        long sent = 0, expected = 0;
        long periodNs = (long) (1e9 / rate);
        long warmSlots = ((long) (rate * warmup)) / 2 * 2;
        long total = warmSlots + (long) (rate * seconds);
        Instant occurred = Instant.now();
        long start0 = System.nanoTime();
        long start = start0 + warmSlots * periodNs; // the measurement starts after the warm-up
        try (KafkaProducer<String, String> producer = new KafkaProducer<>(pp, new StringSerializer(), new StringSerializer())) {
            for (long i = 0; i < total; i++) {
                long due = start0 + i * periodNs;
                boolean warm = i < warmSlots;
                long wait;
                while ((wait = due - System.nanoTime()) > 0) {
                    LockSupport.parkNanos(wait);
                }
                long order = i / 2;
                String orderId = prefix + "-" + order;
                boolean caterer = (i % 2) == 1;
                String id = (warm ? "warmup-" : "") + UUID.randomUUID();
                String v = "{\"id\":\"" + id + "\",\"type\":\"" + (caterer ? Domain.CATERER_CONFIRMED : Domain.CUSTOMER_CONFIRMED)
                        + "\",\"order_id\":\"" + orderId + "\",\"menu_id\":\"menu-a\",\"occurred_at\":\"" + occurred + "\",\"data\":{}}";
                if (caterer && !warm) {
                    sentAt.put(id, System.nanoTime());
                    expected++;
                }
                producer.send(new ProducerRecord<>(eventsTopic, orderId, v));
                if (!warm) {
                    sent++;
                }
            }
            producer.flush();
        }
        double sendSeconds = (System.nanoTime() - start) / 1e9;
        long drainEnd = System.currentTimeMillis() + drainMs;
        while (System.currentTimeMillis() < drainEnd) {
            synchronized (lat) {
                if (lat.size() >= expected) {
                    break;
                }
            }
            Thread.sleep(50);
        }
        Thread.sleep(500); // late duplicates, if any, show up
        stop.set(true);
        reader.join();
        consumer.close();

        double[] l;
        StringBuilder windows = new StringBuilder("[");
        synchronized (lat) {
            l = lat.stream().mapToDouble(Double::doubleValue).toArray();
            // p50 per 5 s of send time: a p50 that grows window after window is a backlog.
            int nWin = (int) Math.ceil(seconds / 5.0);
            for (int w = 0; w < nWin; w++) {
                long lo = start + w * 5_000_000_000L, hi = lo + 5_000_000_000L;
                double[] win = byWindow.stream().filter(x -> x[0] >= lo && x[0] < hi).mapToDouble(x -> x[1] / 1000.0).sorted().toArray();
                windows.append(w == 0 ? "" : ",").append(String.format(java.util.Locale.ROOT, "%.1f", win.length == 0 ? -1.0 : pct(win, 0.5)));
            }
        }
        windows.append("]");
        Arrays.sort(l);
        String json = String.format(java.util.Locale.ROOT,
                "{\"rate\":%.0f,\"achieved_rate\":%.0f,\"sent_events\":%d,\"expected_commands\":%d,\"received\":%d,"
                        + "\"missing\":%d,\"duplicates\":%d,\"unmatched\":%d,\"p50_ms\":%.1f,\"p99_ms\":%.1f,\"max_ms\":%.1f,"
                        + "\"p50_ms_per_5s\":%s}",
                rate, sent / sendSeconds, sent, expected, l.length, expected - l.length, dupes.get(), unmatched.get(),
                pct(l, 0.50), pct(l, 0.99), l.length == 0 ? Double.NaN : l[l.length - 1], windows);
        System.out.println(json);
        String out = a.get("out", "");
        if (!out.isEmpty()) {
            Files.writeString(Path.of(out), json + "\n", StandardCharsets.UTF_8);
        }
    }

    private static double pct(double[] sorted, double q) {
        if (sorted.length == 0) {
            return Double.NaN;
        }
        int i = (int) Math.ceil(q * sorted.length) - 1;
        return sorted[Math.max(0, Math.min(sorted.length - 1, i))];
    }

    private LatencyProbe() {}
}
