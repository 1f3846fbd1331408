package bench;

import java.time.Duration;
import java.util.Properties;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.apache.kafka.common.serialization.Serdes;
import org.apache.kafka.streams.KafkaStreams;
import org.apache.kafka.streams.StoreQueryParameters;
import org.apache.kafka.streams.StreamsConfig;
import org.apache.kafka.streams.Topology;
import org.apache.kafka.streams.errors.StreamsUncaughtExceptionHandler;
import org.apache.kafka.streams.processor.StateRestoreListener;
import org.apache.kafka.streams.state.KeyValueIterator;
import org.apache.kafka.streams.state.QueryableStoreTypes;
import org.apache.kafka.streams.state.ReadOnlyKeyValueStore;
import org.apache.kafka.streams.state.Stores;

/**
 * The Kafka Streams peer of catering-match.
 *
 * <pre>
 * java -cp 'target/catering-kstreams.jar:target/lib/*' bench.MatchApp --brokers 127.0.0.1:19092 \
 *   --app-id catering-kstreams --events-topic catering-events --commands-topic catering-commands \
 *   --dlq-topic catering-events-dlq [--state-dir DIR] [--threads 1] [--instance-id bench]
 *   [--expect-restore N] [--count-store]
 * </pre>
 *
 * The commands and DLQ topics must exist (Kafka Streams does not create sink topics); the store's
 * changelog, {app-id}-process-store-changelog, is created by Kafka Streams, co-partitioned with the
 * events topic. Lines starting with "BENCH " on stdout are for bench/peer.sh: state changes,
 * restores, and READY once the instance is RUNNING with --expect-restore partition restores done.
 */
public final class MatchApp {
    public static void main(String[] argv) throws Exception {
        Args a = new Args(argv);
        String appId = a.req("app-id");
        int expectRestore = a.i("expect-restore", 0);
        boolean countStore = a.b("count-store");

        Topology t = new Topology();
        t.addSource("events", new ByteArrayDeserializer(), new ByteArrayDeserializer(), a.req("events-topic"));
        int maxHistory = a.i("max-history", 1000);
        t.addProcessor("match", () -> new MatchProcessor(maxHistory), "events");
        t.addStateStore(Stores.keyValueStoreBuilder(
                Stores.persistentKeyValueStore(MatchProcessor.STORE), Serdes.String(), Serdes.String()), "match");
        t.addSink(MatchProcessor.COMMANDS_SINK, a.req("commands-topic"), new ByteArraySerializer(), new ByteArraySerializer(), "match");
        t.addSink(MatchProcessor.DLQ_SINK, a.req("dlq-topic"), new ByteArraySerializer(), new ByteArraySerializer(), "match");

        Properties p = new Properties();
        p.put(StreamsConfig.APPLICATION_ID_CONFIG, appId);
        p.put(StreamsConfig.BOOTSTRAP_SERVERS_CONFIG, a.req("brokers"));
        p.put(StreamsConfig.PROCESSING_GUARANTEE_CONFIG, StreamsConfig.EXACTLY_ONCE_V2);
        p.put(StreamsConfig.COMMIT_INTERVAL_MS_CONFIG, a.i("commit-interval-ms", 100));
        p.put(StreamsConfig.NUM_STREAM_THREADS_CONFIG, a.i("threads", 1));
        p.put(StreamsConfig.REPLICATION_FACTOR_CONFIG, a.i("replication-factor", 1));
        // Static membership (KIP-345), as catering-match uses: a restarted instance gets its tasks
        // back at once. A dynamic member does not leave the group on close (Kafka Streams sets
        // internal.leave.group.on.close=false), so its restart waits out the session timeout.
        String instanceId = a.get("instance-id", "bench");
        if (!instanceId.isEmpty()) {
            p.put(StreamsConfig.consumerPrefix(ConsumerConfig.GROUP_INSTANCE_ID_CONFIG), instanceId);
        }
        p.put(StreamsConfig.STATE_DIR_CONFIG, a.get("state-dir", System.getProperty("java.io.tmpdir") + "/kafka-streams"));

        long t0 = System.currentTimeMillis();
        KafkaStreams streams = new KafkaStreams(t, p);
        System.out.println("BENCH START ts=" + t0 + " app_id=" + appId + "\n" + t.describe());

        AtomicLong runningAt = new AtomicLong();
        ConcurrentHashMap<TopicPartition, Boolean> restoring = new ConcurrentHashMap<>();
        AtomicInteger restoreEnds = new AtomicInteger();
        AtomicLong restoredRecords = new AtomicLong();
        AtomicLong firstRestoreStart = new AtomicLong();
        AtomicLong lastRestoreEnd = new AtomicLong();
        CountDownLatch dead = new CountDownLatch(1);

        streams.setStateListener((to, from) -> {
            long now = System.currentTimeMillis();
            if (to == KafkaStreams.State.RUNNING) {
                runningAt.compareAndSet(0, now);
            }
            System.out.println("BENCH STATE " + from + "->" + to + " ts=" + now);
            if (to == KafkaStreams.State.ERROR || to == KafkaStreams.State.NOT_RUNNING) {
                dead.countDown();
            }
        });
        streams.setGlobalStateRestoreListener(new StateRestoreListener() {
            @Override
            public void onRestoreStart(TopicPartition tp, String store, long start, long end) {
                firstRestoreStart.compareAndSet(0, System.currentTimeMillis());
                restoring.put(tp, true);
                System.out.println("BENCH RESTORE-START " + tp + " from=" + start + " to=" + end + " ts=" + System.currentTimeMillis());
            }

            @Override
            public void onBatchRestored(TopicPartition tp, String store, long batchEnd, long n) { }

            @Override
            public void onRestoreEnd(TopicPartition tp, String store, long total) {
                restoredRecords.addAndGet(total);
                lastRestoreEnd.set(System.currentTimeMillis());
                restoring.remove(tp);
                restoreEnds.incrementAndGet();
                System.out.println("BENCH RESTORE-END " + tp + " records=" + total + " ts=" + lastRestoreEnd.get());
            }

            @Override
            public void onRestoreSuspended(TopicPartition tp, String store, long total) {
                restoring.remove(tp);
                System.out.println("BENCH RESTORE-SUSPENDED " + tp + " records=" + total);
            }
        });
        streams.setUncaughtExceptionHandler(e -> {
            System.out.println("BENCH FATAL " + e);
            e.printStackTrace();
            return StreamsUncaughtExceptionHandler.StreamThreadExceptionResponse.SHUTDOWN_CLIENT;
        });

        CountDownLatch closed = new CountDownLatch(1);
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            long c0 = System.currentTimeMillis();
            // leaveGroup: a restart then rebalances at once instead of waiting out the session timeout.
            streams.close(new KafkaStreams.CloseOptions().leaveGroup(true).timeout(Duration.ofSeconds(30)));
            System.out.println("BENCH STOPPED close_ms=" + (System.currentTimeMillis() - c0) + " " + MatchProcessor.stats());
            System.out.flush();
            closed.countDown();
        }, "bench-shutdown"));

        streams.start();

        // READY: RUNNING, no restore in progress, and the expected restores finished.
        while (dead.getCount() > 0) {
            if (runningAt.get() > 0 && restoring.isEmpty() && restoreEnds.get() >= expectRestore
                    && streams.state() == KafkaStreams.State.RUNNING) {
                long ready = Math.max(runningAt.get(), lastRestoreEnd.get());
                long restoreMs = firstRestoreStart.get() == 0 ? 0 : lastRestoreEnd.get() - firstRestoreStart.get();
                System.out.println("BENCH READY ts=" + ready + " since_start_ms=" + (ready - t0)
                        + " restored_partitions=" + restoreEnds.get() + " restored_records=" + restoredRecords.get()
                        + " restore_span_ms=" + restoreMs);
                break;
            }
            Thread.sleep(5);
        }
        if (countStore && dead.getCount() > 0) {
            ReadOnlyKeyValueStore<String, String> s = streams.store(
                    StoreQueryParameters.fromNameAndType(MatchProcessor.STORE, QueryableStoreTypes.keyValueStore()));
            long n = 0;
            try (KeyValueIterator<String, String> it = s.all()) {
                while (it.hasNext()) {
                    it.next();
                    n++;
                }
            }
            System.out.println("BENCH PROCESSES " + n);
        }
        long lastReport = System.currentTimeMillis();
        while (!dead.await(1, java.util.concurrent.TimeUnit.SECONDS)) {
            if (System.currentTimeMillis() - lastReport >= 30_000) {
                lastReport = System.currentTimeMillis();
                System.out.println("BENCH PROGRESS " + MatchProcessor.stats());
            }
        }
        if (streams.state() == KafkaStreams.State.ERROR) {
            System.out.println("BENCH ERROR state=ERROR");
            System.exit(1);
        }
        closed.await();
    }
}
