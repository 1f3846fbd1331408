package bench;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.Set;
import java.util.TreeMap;
import java.util.concurrent.ExecutionException;
import java.util.stream.Collectors;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.admin.OffsetSpec;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.errors.TopicExistsException;
import org.apache.kafka.common.header.Header;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;

/**
 * Small admin jobs for bench/peer.sh.
 *
 * <pre>
 * BenchAdmin create-topics --brokers B [--partitions 6] [--rf 1] TOPIC...
 * BenchAdmin count --brokers B --topic T [--commands] [--ids-out FILE]
 *     read_committed count of T from its start to its last stable offset; with --commands also
 *     distinct orders, orders with more than one ConfirmOrder, records without the type header,
 *     command ids that are not UUIDv5("ConfirmOrder/"+order); --ids-out writes the sorted order ids.
 * BenchAdmin nonempty-partitions --brokers B --topic T
 * BenchAdmin cleanup --brokers B --prefix P     deletes the topics and groups named P*
 * </pre>
 */
public final class BenchAdmin {
    public static void main(String[] argv) throws Exception {
        Args a = new Args(argv);
        if (a.positional.isEmpty()) {
            throw new IllegalArgumentException("usage: BenchAdmin create-topics|count|nonempty-partitions|cleanup ...");
        }
        Properties p = new Properties();
        p.put(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, a.req("brokers"));
        String cmd = a.positional.get(0);
        switch (cmd) {
            case "create-topics" -> {
                try (Admin admin = Admin.create(p)) {
                    for (String t : a.positional.subList(1, a.positional.size())) {
                        try {
                            admin.createTopics(List.of(new NewTopic(t, a.i("partitions", 6), (short) a.i("rf", 1)))).all().get();
                        } catch (ExecutionException e) {
                            if (!(e.getCause() instanceof TopicExistsException)) {
                                throw e;
                            }
                        }
                    }
                }
            }
            case "count" -> count(a, p);
            case "nonempty-partitions" -> {
                String topic = a.req("topic");
                try (Admin admin = Admin.create(p)) {
                    int parts = admin.describeTopics(List.of(topic)).allTopicNames().get().get(topic).partitions().size();
                    Map<TopicPartition, OffsetSpec> req = new HashMap<>();
                    for (int i = 0; i < parts; i++) {
                        req.put(new TopicPartition(topic, i), OffsetSpec.latest());
                    }
                    long n = admin.listOffsets(req).all().get().values().stream().filter(o -> o.offset() > 0).count();
                    System.out.println(n);
                }
            }
            case "cleanup" -> {
                String prefix = a.req("prefix");
                try (Admin admin = Admin.create(p)) {
                    Set<String> topics = admin.listTopics().names().get().stream()
                            .filter(t -> t.startsWith(prefix)).collect(Collectors.toSet());
                    if (!topics.isEmpty()) {
                        admin.deleteTopics(topics).all().get();
                    }
                    List<String> groups = new ArrayList<>();
                    admin.listGroups().all().get().forEach(g -> {
                        if (g.groupId().startsWith(prefix)) {
                            groups.add(g.groupId());
                        }
                    });
                    if (!groups.isEmpty()) {
                        try {
                            admin.deleteConsumerGroups(groups).all().get();
                        } catch (ExecutionException e) {
                            System.err.println("cleanup: groups: " + e.getCause());
                        }
                    }
                    System.out.println("cleanup: deleted " + topics.size() + " topics, " + groups.size() + " groups named " + prefix + "*");
                }
            }
            default -> throw new IllegalArgumentException("unknown command " + cmd);
        }
    }

    private static void count(Args a, Properties admin) throws Exception {
        String topic = a.req("topic");
        boolean commands = a.b("commands");
        Properties p = new Properties();
        p.putAll(admin);
        p.put(ConsumerConfig.ISOLATION_LEVEL_CONFIG, "read_committed");
        p.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, "false");
        p.put(ConsumerConfig.MAX_POLL_RECORDS_CONFIG, 5000);
        long records = 0, badHeader = 0, badId = 0;
        Map<String, Integer> perOrder = new TreeMap<>();
        try (KafkaConsumer<byte[], byte[]> c = new KafkaConsumer<>(p, new ByteArrayDeserializer(), new ByteArrayDeserializer())) {
            List<TopicPartition> tps = c.partitionsFor(topic).stream()
                    .map(pi -> new TopicPartition(topic, pi.partition())).collect(Collectors.toList());
            c.assign(tps);
            c.seekToBeginning(tps);
            Map<TopicPartition, Long> end = c.endOffsets(tps); // read_committed: the last stable offsets
            long deadline = System.currentTimeMillis() + 120_000;
            while (tps.stream().anyMatch(tp -> c.position(tp) < end.get(tp))) {
                if (System.currentTimeMillis() > deadline) {
                    throw new IllegalStateException("count: " + topic + " not read to its end in 120 s");
                }
                for (ConsumerRecord<byte[], byte[]> r : c.poll(Duration.ofMillis(200))) {
                    if (r.offset() >= end.get(new TopicPartition(r.topic(), r.partition()))) {
                        continue;
                    }
                    records++;
                    if (commands) {
                        Header h = r.headers().lastHeader("type");
                        if (h == null || !"ConfirmOrder".equals(new String(h.value(), StandardCharsets.UTF_8))) {
                            badHeader++;
                        }
                        var v = Domain.JSON.readTree(r.value());
                        String order = v.path("order_id").asText();
                        if (!Uuid5.commandId(order).equals(v.path("command_id").asText())
                                || !order.equals(new String(r.key(), StandardCharsets.UTF_8))) {
                            badId++;
                        }
                        perOrder.merge(order, 1, Integer::sum);
                    }
                }
            }
        }
        if (!commands) {
            System.out.println("records=" + records);
            return;
        }
        long dupOrders = perOrder.values().stream().filter(n -> n > 1).count();
        System.out.println("records=" + records + " distinct_orders=" + perOrder.size() + " orders_with_duplicates=" + dupOrders
                + " bad_header=" + badHeader + " bad_command_id=" + badId);
        String idsOut = a.get("ids-out", "");
        if (!idsOut.isEmpty()) {
            Files.write(Path.of(idsOut), perOrder.keySet());
        }
    }

    private BenchAdmin() {}
}
