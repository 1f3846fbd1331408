package bench;

import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.UUID;

/** RFC 4122 name-based UUID version 5 (SHA-1), as Go's uuid.NewSHA1. */
final class Uuid5 {
    /** DOMAIN.md's fixed namespace of ConfirmOrder command ids (state.commandNamespace). */
    static final UUID COMMAND_NAMESPACE = UUID.fromString("6f2b8c0e-3a6d-5b9e-8f41-6c1f0e2a9d57");

    private Uuid5() {}

    static String commandId(String orderId) {
        return of(COMMAND_NAMESPACE, "ConfirmOrder/" + orderId).toString();
    }

    static UUID of(UUID namespace, String name) {
        MessageDigest sha1;
        try {
            sha1 = MessageDigest.getInstance("SHA-1");
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
        ByteBuffer ns = ByteBuffer.allocate(16);
        ns.putLong(namespace.getMostSignificantBits()).putLong(namespace.getLeastSignificantBits());
        sha1.update(ns.array());
        sha1.update(name.getBytes(StandardCharsets.UTF_8));
        byte[] h = sha1.digest();
        h[6] = (byte) ((h[6] & 0x0f) | 0x50); // version 5
        h[8] = (byte) ((h[8] & 0x3f) | 0x80); // RFC 4122 variant
        ByteBuffer b = ByteBuffer.wrap(h, 0, 16);
        return new UUID(b.getLong(), b.getLong());
    }
}
