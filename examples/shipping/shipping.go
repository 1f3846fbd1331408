package main

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/catering-match/catering-match/processor"
	"github.com/catering-match/catering-match/state"
	"github.com/catering-match/catering-match/topics"
)

// The facts the process waits for, and its two decisions.
const (
	OrderPlaced     = "OrderPlaced"
	PaymentReceived = "PaymentReceived"
	ShipmentOrdered = "ShipmentOrdered" // decision: emits ShipOrder
	OrderCancelled  = "OrderCancelled"  // decision at the deadline: emits CancelOrder
)

// Shipment is the state of one order's process, folded from its history.
type Shipment struct {
	Placed, Paid bool
	Outcome      string // "", ShipmentOrdered or OrderCancelled
}

func (s Shipment) status() string {
	switch s.Outcome {
	case ShipmentOrdered:
		return "shipped"
	case OrderCancelled:
		return "cancelled"
	}
	return "waiting"
}

// namespace of the command ids: UUIDv5 of "<command>/<order id>", so that
// a consumer can deduplicate, and a replay recomputes the same id.
var namespace = uuid.MustParse("0b6f9d2e-5c4a-4e1f-9a37-2d8c6b1e7f40")

func commandID(command, order string) string {
	return uuid.NewSHA1(namespace, []byte(command+"/"+order)).String()
}

// definition is the whole process manager: wait for OrderPlaced and
// PaymentReceived of the same order, in either order, then ship it; if
// both have not come by the deadline, cancel it.
func definition() processor.Definition[Shipment] {
	fold := state.Init(func() Shipment { return Shipment{} }).
		When(OrderPlaced, func(s Shipment, _ state.Entry) Shipment { s.Placed = true; return s }).
		When(PaymentReceived, func(s Shipment, _ state.Entry) Shipment { s.Paid = true; return s }).
		When(ShipmentOrdered, func(s Shipment, _ state.Entry) Shipment { s.Outcome = ShipmentOrdered; return s }).
		When(OrderCancelled, func(s Shipment, _ state.Entry) Shipment { s.Outcome = OrderCancelled; return s })
	return processor.Definition[Shipment]{
		Process: state.Definition[Shipment]{
			Projection: fold,
			Decide: func(order string, s Shipment, _ state.Entry, _ time.Time) (state.Entry, bool) {
				if s.Outcome != "" || !s.Placed || !s.Paid {
					return state.Entry{}, false
				}
				return state.Entry{ID: commandID("ShipOrder", order), Type: ShipmentOrdered}, true
			},
			Terminal: func(s Shipment) bool { return s.Outcome != "" },
			Expire: func(order string, _ Shipment, _ time.Time) state.Entry {
				return state.Entry{ID: commandID("CancelOrder", order), Type: OrderCancelled}
			},
		},
		Decode:   decode,
		Emit:     emit,
		Status:   Shipment.status,
		Statuses: []string{"waiting", "shipped", "cancelled"},
		Logs:     processor.Logs{Key: "order_id", Deadline: "order cancelled: not placed and paid in time"},
	}
}

// event is the input record's value; the key is the order id.
type event struct {
	ID      string `json:"id"`
	Type    string `json:"type"`
	OrderID string `json:"order_id"`
}

func decode(r *kgo.Record) (string, state.Entry, error) {
	var e event
	switch err := json.Unmarshal(r.Value, &e); {
	case err != nil:
		return "", state.Entry{}, &topics.MalformedError{Kind: topics.MalformedNotObject, Reason: "value is not a JSON event: " + err.Error()}
	case e.ID == "" || e.Type == "" || e.OrderID == "":
		return "", state.Entry{}, &topics.MalformedError{Kind: topics.MalformedMissing, Reason: "id, type and order_id are required"}
	case e.OrderID != string(r.Key):
		return "", state.Entry{}, &topics.MalformedError{Kind: topics.MalformedKeyMismatch, Reason: fmt.Sprintf("order_id %q differs from the key %q", e.OrderID, r.Key)}
	}
	return e.OrderID, state.Entry{ID: e.ID, Type: e.Type}, nil
}

// Command is a ShipOrder or CancelOrder record's value.
type Command struct {
	CommandID   string    `json:"command_id"`
	Type        string    `json:"type"`
	OrderID     string    `json:"order_id"`
	CausationID string    `json:"causation_id,omitempty"` // the event that completed the order; none for a cancel
	IssuedAt    time.Time `json:"issued_at"`
}

func emit(d processor.Decision[Shipment]) []*kgo.Record {
	c := Command{CommandID: d.Entry.ID, OrderID: d.Key, IssuedAt: d.Entry.At.Time()}
	switch d.Entry.Type {
	case ShipmentOrdered:
		c.Type, c.CausationID = "ShipOrder", d.Cause.ID
	case OrderCancelled:
		c.Type = "CancelOrder"
	default:
		return nil
	}
	v, _ := json.Marshal(c) // strings and a time: cannot fail
	return []*kgo.Record{{Value: v, Headers: []kgo.RecordHeader{{Key: "type", Value: []byte(c.Type)}}}}
}
