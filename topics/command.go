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
	return ConfirmOrder{
		CommandID:     state.CommandID(orderID),
		Type:          ConfirmOrderType,
		OrderID:       orderID,
		MenuID:        menuID,
		IssuedAt:      issuedAt.UTC().Format(time.RFC3339Nano),
		CausationID:   causationID,
		CorrelationID: orderID,
	}
}

// Encode returns the command's wire JSON.
func (c ConfirmOrder) Encode() []byte {
	b, _ := json.Marshal(c) // only strings: cannot fail
	return b
}

// DecodeConfirmOrder decodes a command record's value.
func DecodeConfirmOrder(value []byte) (ConfirmOrder, error) {
	var c ConfirmOrder
	err := json.Unmarshal(value, &c)
	return c, err
}
