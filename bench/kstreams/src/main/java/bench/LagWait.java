package bench;

import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.stream.Collectors;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.admin.ListConsumerGroupOffsetsOptions;
import org.apache.kafka.clients.admin.ListOffsetsResult;
import org.apache.kafka.clients.admin.OffsetSpec;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.common.TopicPartition;

/**
 * Waits until a consumer group has committed, on every partition of a topic, the topic's end
 * offset (lag 0), and prints "LAG0 ts=<epoch ms> records=<end offsets summed>".
 *
 * <pre>java bench.LagWait --brokers B --group G --topic T [--timeout-s 600] [--interval-ms 50]</pre>
 *
 * The end offsets are read once at start (the bench publishes the whole input first). Committed
 * offsets are read with require_stable, so a transaction's offsets count only once committed.
 * Progress goes to stderr every 5 s. Exit 1 on timeout.
 */
public final class LagWait {
    public static void main(String[] argv) throws Exception {
        Args a = new Args(argv);
        String group = a.req("group");
        String topic = a.req("topic");
        long deadline = System.currentTimeMillis() + a.l("timeout-s", 600) * 1000;
        long interval = a.l("interval-ms", 50);
        Properties p = new Properties();
        p.put(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, a.req("brokers"));
        try (Admin admin = Admin.create(p)) {
            int parts = admin.describeTopics(List.of(topic)).allTopicNames().get().get(topic).partitions().size();
            Map<TopicPartition, OffsetSpec> req = new HashMap<>();
            for (int i = 0; i < parts; i++) {
                req.put(new TopicPartition(topic, i), OffsetSpec.latest());
            }
            Map<TopicPartition, Long> end = admin.listOffsets(req).all().get().entrySet().stream()
                    .collect(Collectors.toMap(Map.Entry::getKey, e -> e.getValue().offset()));
            long total = end.values().stream().mapToLong(Long::longValue).sum();
            long lastLog = 0;
            while (true) {
                Map<TopicPartition, OffsetAndMetadata> c = admin
                        .listConsumerGroupOffsets(group, new ListConsumerGroupOffsetsOptions().requireStable(true))
                        .partitionsToOffsetAndMetadata().get();
                long lag = 0;
                for (var e : end.entrySet()) {
                    OffsetAndMetadata om = c.get(e.getKey());
                    lag += Math.max(0, e.getValue() - (om == null ? 0 : om.offset()));
                }
                long now = System.currentTimeMillis();
                if (lag == 0) {
                    System.out.println("LAG0 ts=" + now + " records=" + total);
                    return;
                }
                if (now - lastLog >= 5000) {
                    lastLog = now;
                    System.err.println("lagwait: group " + group + " lag " + lag + "/" + total);
                }
                if (now > deadline) {
                    System.err.println("lagwait: timeout, group " + group + " lag " + lag + "/" + total);
                    System.exit(1);
                }
                Thread.sleep(interval);
            }
        }
    }

    private LagWait() {}
}
