package topics

import (
	"encoding/json"
	"time"

	"github.com/catering-match/catering-match/state"
)

// ConfirmOrderType is the type of the only command the service issues, and
// the value of the "type" header on its records.
const ConfirmOrderType = "ConfirmOrder"

// ConfirmOrder is the command written to the commands topic.
type ConfirmOrder struct {
	CommandID     string `json:"command_id"`
	Type          string `json:"type"`
	OrderID       string `json:"order_id"`
	MenuID        string `json:"menu_id"`
	IssuedAt      string `json:"issued_at"`
	CausationID   string `json:"causation_id"`
	CorrelationID string `json:"correlation_id"`
}

// NewConfirmOrder builds the command for an order whose menu matched: the
// command id is state.CommandID(orderID), the causation id the id of the
// event that completed the match.
func NewConfirmOrder(orderID, menuID, causationID string, issuedAt time.Time) ConfirmOrder {
	return NewConfirmOrderWithID(state.CommandID(orderID), orderID, menuID, causationID, issuedAt)
}

// NewConfirmOrderWithID is NewConfirmOrder for a caller that holds the
// command id already (the ConfirmOrderIssued entry's id is
// state.CommandID(orderID)), which spares a SHA-1 per match.
func NewConfirmOrderWithID(commandID, orderID, menuID, causationID string, issuedAt time.Time) ConfirmOrder {
	return ConfirmOrder{
		CommandID:     commandID,
		Type:          ConfirmOrderType,
		OrderID:       orderID,
		MenuID:        menuID,
		IssuedAt:      issuedAt.UTC().Format(time.RFC3339Nano),
		CausationID:   causationID,
		CorrelationID: orderID,
	}
}

// Encode returns the command's wire JSON. It writes the bytes
// json.Marshal writes (FuzzConfirmOrderEncode), without its reflection.
func (c ConfirmOrder) Encode() []byte {
	b := make([]byte, 0, confirmOrderLen(c.CommandID, c.Type, c.OrderID, c.MenuID, c.IssuedAt, c.CausationID, c.CorrelationID))
	b = appendConfirmOrderHead(b, c.CommandID, c.Type, c.OrderID, c.MenuID)
	b = appendJSONString(b, c.IssuedAt)
	return appendConfirmOrderTail(b, c.CausationID, c.CorrelationID)
}

// EncodeConfirmOrder is NewConfirmOrderWithID(commandID, orderID, menuID,
// causationID, issuedAt.Time()).Encode() written straight into one buffer,
// without the command value and its formatted time in between: the
// service's hot path, once per match (FuzzConfirmOrderEncode).
func EncodeConfirmOrder(commandID, orderID, menuID, causationID string, issuedAt state.Stamp) []byte {
	b := make([]byte, 0, confirmOrderLen(commandID, ConfirmOrderType, orderID, menuID, "", causationID, orderID)+maxAtLen)
	b = appendConfirmOrderHead(b, commandID, ConfirmOrderType, orderID, menuID)
	b = append(b, '"')
	b = appendStamp(b, issuedAt) // digits and the layout's ASCII: nothing to escape
	b = append(b, '"')
	return appendConfirmOrderTail(b, causationID, orderID)
}

// confirmOrderLen is room for a command of these fields: the names and
// punctuation, and the values with a little to spare for escapes.
func confirmOrderLen(fields ...string) int {
	n := 160
	for _, f := range fields {
		n += len(f)
	}
	return n
}

// appendConfirmOrderHead and appendConfirmOrderTail write a command's
// fields in json.Marshal's order (the struct's), around the value of
// issued_at, which each encoder writes its own way.
func appendConfirmOrderHead(b []byte, commandID, typ, orderID, menuID string) []byte {
	b = append(b, `{"command_id":`...)
	b = appendJSONString(b, commandID)
	b = append(b, `,"type":`...)
	b = appendJSONString(b, typ)
	b = append(b, `,"order_id":`...)
	b = appendJSONString(b, orderID)
	b = append(b, `,"menu_id":`...)
	b = appendJSONString(b, menuID)
	return append(b, `,"issued_at":`...)
}

func appendConfirmOrderTail(b []byte, causationID, correlationID string) []byte {
	b = append(b, `,"causation_id":`...)
	b = appendJSONString(b, causationID)
	b = append(b, `,"correlation_id":`...)
	b = appendJSONString(b, correlationID)
	return append(b, '}')
}

// encodeSlow is the reference Encode.
func (c ConfirmOrder) encodeSlow() []byte {
	b, _ := json.Marshal(c) // only strings: cannot fail
	return b
}

// DecodeConfirmOrder decodes a command record's value.
func DecodeConfirmOrder(value []byte) (ConfirmOrder, error) {
	var c ConfirmOrder
	err := json.Unmarshal(value, &c)
	return c, err
}
