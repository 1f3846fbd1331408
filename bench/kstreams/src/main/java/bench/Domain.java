package bench;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.nio.charset.StandardCharsets;
import java.util.Set;

/** DOMAIN.md's wire formats: event validation, the ConfirmOrder command. */
final class Domain {
    static final String CUSTOMER_CONFIRMED = "CustomerConfirmedMenu";
    static final String CATERER_CONFIRMED = "CatererConfirmedMenu";
    static final String CATERER_DECLINED = "CatererDeclinedMenu";
    static final String CONFIRM_ORDER_ISSUED = "ConfirmOrderIssued";
    static final String MATCH_EXPIRED = "MatchExpired";
    static final Set<String> HANDLED = Set.of(CUSTOMER_CONFIRMED, CATERER_CONFIRMED, CATERER_DECLINED);
    static final int MAX_FIELD_BYTES = 128;

    static final ObjectMapper JSON = new ObjectMapper()
            .enable(DeserializationFeature.FAIL_ON_TRAILING_TOKENS);

    private Domain() {}

    /** A well-formed event, the fields the process uses. */
    record Event(String id, String type, String orderId, String menuId) {}

    /** Thrown for a malformed record; the message is the dlq-reason. */
    static final class Malformed extends Exception {
        Malformed(String reason) { super(reason, null, false, false); }
    }

    /** Decodes and validates an event record as DOMAIN.md (and topics.DecodeEvent) does. */
    static Event decode(byte[] key, byte[] value) throws Malformed {
        if (key == null || key.length == 0) {
            throw new Malformed("record key is empty; it must be the order id");
        }
        int i = 0;
        while (value != null && i < value.length && (value[i] == ' ' || value[i] == '\t' || value[i] == '\n' || value[i] == '\r')) {
            i++;
        }
        if (value == null || i == value.length || value[i] != '{') {
            throw new Malformed("value is not a JSON object");
        }
        JsonNode n;
        try {
            n = JSON.readTree(value);
        } catch (Exception e) {
            throw new Malformed("value is not a JSON object: " + firstLine(e.getMessage()));
        }
        if (!(n instanceof ObjectNode o)) {
            throw new Malformed("value is not a JSON object");
        }
        String id = field(o, "id", true, MAX_FIELD_BYTES);
        String type = field(o, "type", true, 0);
        String orderId = field(o, "order_id", true, MAX_FIELD_BYTES);
        String menuId = field(o, "menu_id", false, MAX_FIELD_BYTES);
        String k = new String(key, StandardCharsets.UTF_8);
        if (!orderId.equals(k)) {
            throw new Malformed("order_id \"" + orderId + "\" differs from record key \"" + k + "\"");
        }
        return new Event(id, type, orderId, menuId);
    }

    private static String field(ObjectNode o, String name, boolean required, int limit) throws Malformed {
        JsonNode v = o.get(name);
        if (v == null || v.isNull()) {
            if (required) {
                throw new Malformed("required field " + name + " is missing");
            }
            return "";
        }
        if (!v.isTextual()) {
            String raw = v.toString();
            throw new Malformed("field " + name + " must be a string, got " + (raw.length() > 40 ? raw.substring(0, 40) + "…" : raw));
        }
        String s = v.textValue();
        if (required && s.isEmpty()) {
            throw new Malformed("required field " + name + " is empty");
        }
        int bytes = s.getBytes(StandardCharsets.UTF_8).length;
        if (limit > 0 && bytes > limit) {
            throw new Malformed("field " + name + " is " + bytes + " bytes, over the limit of " + limit);
        }
        return s;
    }

    private static String firstLine(String s) {
        if (s == null) {
            return "";
        }
        int nl = s.indexOf('\n');
        return nl < 0 ? s : s.substring(0, nl);
    }

    /** The ConfirmOrder command JSON, fields in DOMAIN.md's order. */
    static byte[] confirmOrder(String orderId, String menuId, String causationId, String issuedAt) {
        ObjectNode c = JSON.createObjectNode();
        c.put("command_id", Uuid5.commandId(orderId));
        c.put("type", "ConfirmOrder");
        c.put("order_id", orderId);
        c.put("menu_id", menuId);
        c.put("issued_at", issuedAt);
        c.put("causation_id", causationId);
        c.put("correlation_id", orderId);
        try {
            return JSON.writeValueAsBytes(c);
        } catch (JsonProcessingException e) {
            throw new IllegalStateException(e);
        }
    }
}
