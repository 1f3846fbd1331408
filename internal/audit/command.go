package audit

import (
	"bytes"
	"encoding/json"

	"github.com/google/uuid"
)

// ConfirmOrderType is the command's type field and its "type" header.
const ConfirmOrderType = "ConfirmOrder"

// commandNamespace is the documented UUID namespace of ConfirmOrder ids
// (docs/contract.md, "ConfirmOrder (output) JSON").
var commandNamespace = uuid.MustParse("6f2b8c0e-3a6d-5b9e-8f41-6c1f0e2a9d57")

// CommandID is the command_id docs/contract.md prescribes for an order's
// ConfirmOrder: UUID v5 of "ConfirmOrder/<order_id>".
func CommandID(orderID string) string {
	return uuid.NewSHA1(commandNamespace, []byte("ConfirmOrder/"+orderID)).String()
}

// Command is a decoded ConfirmOrder value.
type Command struct {
	CommandID     string `json:"command_id"`
	Type          string `json:"type"`
	OrderID       string `json:"order_id"`
	MenuID        string `json:"menu_id"`
	IssuedAt      string `json:"issued_at"`
	CausationID   string `json:"causation_id"`
	CorrelationID string `json:"correlation_id"`
}

// DecodeCommand decodes a command value. ok is false when the value is not
// a JSON object; problems lists fields that are missing or not strings.
func DecodeCommand(value []byte) (c Command, problems []string, ok bool) {
	trimmed := bytes.Trim(value, jsonSpace)
	var fields map[string]json.RawMessage
	if len(trimmed) == 0 || trimmed[0] != '{' || json.Unmarshal(trimmed, &fields) != nil {
		return c, nil, false
	}
	for _, f := range []struct {
		name     string
		dst      *string
		required bool
	}{
		{"command_id", &c.CommandID, true},
		{"type", &c.Type, true},
		{"order_id", &c.OrderID, true},
		{"menu_id", &c.MenuID, false}, // "" is the default menu
		{"issued_at", &c.IssuedAt, false},
		{"causation_id", &c.CausationID, true},
		{"correlation_id", &c.CorrelationID, true},
	} {
		raw, present := fields[f.name]
		if !present || string(raw) == "null" {
			if f.required {
				problems = append(problems, f.name+" is missing")
			}
			continue
		}
		if json.Unmarshal(raw, f.dst) != nil {
			problems = append(problems, f.name+" is not a string")
		}
	}
	return c, problems, true
}
