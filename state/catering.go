package state

import (
	"crypto/sha1"
	"slices"
	"time"

	"github.com/google/uuid"
)

// The event types of the catering process. The first three come from
// upstream; the last two are the process's own decisions.
const (
	CustomerConfirmedMenu = "CustomerConfirmedMenu"
	CatererConfirmedMenu  = "CatererConfirmedMenu"
	CatererDeclinedMenu   = "CatererDeclinedMenu"
	ConfirmOrderIssued    = "ConfirmOrderIssued"
	MatchExpired          = "MatchExpired"
)

// Status is where an order's process stands.
type Status uint8

// The statuses of an order's process.
const (
	Pending Status = iota
	Confirmed
	Expired
)

func (s Status) String() string {
	switch s {
	case Pending:
		return "pending"
	case Confirmed:
		return "confirmed"
	case Expired:
		return "expired"
	}
	return "unknown"
}

// Answer is the caterer's standing answer for a menu.
type Answer uint8

// The caterer's answers.
const (
	NoAnswer Answer = iota
	Accepted
	Declined
)

func (a Answer) String() string {
	switch a {
	case Accepted:
		return "confirmed"
	case Declined:
		return "declined"
	}
	return "none"
}

// Menu is what each side has said about one menu of an order.
type Menu struct {
	ID       string
	Customer bool   // the customer confirmed this menu (confirmations accumulate)
	Caterer  Answer // the caterer's latest answer, in partition order
}

// Order is the state of one order's process, folded from its history.
type Order struct {
	Status Status
	Menus  []Menu // in the order each menu was first mentioned
	// Confirmation is set once the order is confirmed, nil before. It is a
	// pointer so that a pending order, the one that lives long in memory,
	// does not carry two empty strings (32 B of every live process).
	Confirmation *Confirmation
}

// Confirmation is what a confirmed order decided.
type Confirmation struct {
	Menu      string // the confirmed menu
	CommandID string // the ConfirmOrder command's id
}

// ConfirmedMenu is the confirmed menu, or "" while the order is not confirmed.
func (o Order) ConfirmedMenu() string {
	if o.Confirmation == nil {
		return ""
	}
	return o.Confirmation.Menu
}

// CommandID is the ConfirmOrder command's id, or "" while the order is not
// confirmed.
func (o Order) CommandID() string {
	if o.Confirmation == nil {
		return ""
	}
	return o.Confirmation.CommandID
}

// Menu returns the answers for a menu id and whether it was mentioned.
func (o Order) Menu(id string) (Menu, bool) {
	for _, m := range o.Menus {
		if m.ID == id {
			return m, true
		}
	}
	return Menu{ID: id}, false
}

// withMenu returns o with menu id changed by f; o itself is not modified.
func (o Order) withMenu(id string, f func(*Menu)) Order {
	i := slices.IndexFunc(o.Menus, func(m Menu) bool { return m.ID == id })
	menus := make([]Menu, len(o.Menus), len(o.Menus)+1)
	copy(menus, o.Menus)
	if i < 0 {
		menus = append(menus, Menu{ID: id})
		i = len(menus) - 1
	}
	f(&menus[i])
	o.Menus = menus
	return o
}

// foldOrder is the handlers' fold of a whole history (TestFoldOrderEqualsHandlers),
// built in place: the handlers copy the menus on every menu event, so that
// the state they were given stays as it was, which made a fold allocate once
// per menu event and copy the menus each time. Here the menus are gathered
// on the stack (up to 8) and allocated once, at their final length.
func foldOrder(history []Entry) Order {
	var o Order
	var stack [8]Menu
	menus := stack[:0]
	for _, e := range history {
		switch e.Type {
		case CustomerConfirmedMenu, CatererConfirmedMenu, CatererDeclinedMenu:
			i := slices.IndexFunc(menus, func(m Menu) bool { return m.ID == e.Ref })
			if i < 0 {
				menus = append(menus, Menu{ID: e.Ref})
				i = len(menus) - 1
			}
			switch e.Type {
			case CustomerConfirmedMenu:
				menus[i].Customer = true
			case CatererConfirmedMenu:
				menus[i].Caterer = Accepted
			default:
				menus[i].Caterer = Declined
			}
		case ConfirmOrderIssued:
			o.Status, o.Confirmation = Confirmed, &Confirmation{Menu: e.Ref, CommandID: e.ID}
		case MatchExpired:
			o.Status = Expired
		}
	}
	if len(menus) > 0 {
		o.Menus = make([]Menu, len(menus))
		copy(o.Menus, menus)
	}
	return o
}

// StatusOf is the status of the fold of history (foldOrder(history).Status)
// without the menus: the decision entries alone set it, the last one
// winning. A restore counts and schedules every process by it
// (TestStatusOfEqualsFold).
func StatusOf(history []Entry) Status {
	st := Pending
	for i := range history {
		switch history[i].Type {
		case ConfirmOrderIssued:
			st = Confirmed
		case MatchExpired:
			st = Expired
		}
	}
	return st
}

// commandNamespace is the fixed UUID namespace of ConfirmOrder command ids.
// It is part of the wire contract: changing it changes every command id.
var commandNamespace = uuid.MustParse("6f2b8c0e-3a6d-5b9e-8f41-6c1f0e2a9d57")

// CommandID is the ConfirmOrder command id for an order: a UUID version 5
// in a fixed namespace, of the name "ConfirmOrder/<order id>". Anyone can
// recompute it to deduplicate.
func CommandID(orderID string) string { return nameUUID("ConfirmOrder/", orderID) }

// expiryID is the id of an order's MatchExpired decision.
func expiryID(orderID string) string { return nameUUID("MatchExpired/", orderID) }

// nameUUID is uuid.NewSHA1(commandNamespace, prefix+name).String() with
// one allocation (the string) instead of five: it runs once per decision.
// TestNameUUIDEqualsLibrary checks it against the library.
func nameUUID(prefix, name string) string {
	var stack [256]byte
	b := append(append(append(stack[:0], commandNamespace[:]...), prefix...), name...)
	sum := sha1.Sum(b)
	sum[6] = (sum[6] & 0x0f) | 0x50 // version 5
	sum[8] = (sum[8] & 0x3f) | 0x80 // RFC 4122 variant
	var out [36]byte
	const hexDigits = "0123456789abcdef"
	j := 0
	for i := range 16 {
		if i == 4 || i == 6 || i == 8 || i == 10 {
			out[j] = '-'
			j++
		}
		out[j], out[j+1] = hexDigits[sum[i]>>4], hexDigits[sum[i]&0x0f]
		j += 2
	}
	return string(out[:])
}

// Catering is the definition of the catering process manager: the order
// waits for the customer's and the caterer's confirmation of one menu and
// then issues one ConfirmOrder.
func Catering() Definition[Order] {
	p := Init(func() Order { return Order{} }).
		When(CustomerConfirmedMenu, func(o Order, e Entry) Order {
			return o.withMenu(e.Ref, func(m *Menu) { m.Customer = true })
		}).
		When(CatererConfirmedMenu, func(o Order, e Entry) Order {
			return o.withMenu(e.Ref, func(m *Menu) { m.Caterer = Accepted })
		}).
		When(CatererDeclinedMenu, func(o Order, e Entry) Order {
			return o.withMenu(e.Ref, func(m *Menu) { m.Caterer = Declined })
		}).
		When(ConfirmOrderIssued, func(o Order, e Entry) Order {
			o.Status, o.Confirmation = Confirmed, &Confirmation{Menu: e.Ref, CommandID: e.ID}
			return o
		}).
		When(MatchExpired, func(o Order, _ Entry) Order {
			o.Status = Expired
			return o
		}).
		FoldWith(foldOrder)
	return Definition[Order]{
		Projection: p,
		Decide: func(key string, o Order, applied Entry, _ time.Time) (Entry, bool) {
			m, _ := o.Menu(applied.Ref)
			if o.Status != Pending || !m.Customer || m.Caterer != Accepted {
				return Entry{}, false
			}
			return Entry{ID: CommandID(key), Type: ConfirmOrderIssued, Ref: m.ID}, true
		},
		Terminal: func(o Order) bool { return o.Status != Pending },
		Expire: func(key string, _ Order, _ time.Time) Entry {
			return Entry{ID: expiryID(key), Type: MatchExpired}
		},
	}
}

// DefaultLimits returns the limits docs/contract.md gives as defaults: a 14-day
// match timeout, 7 days of retention and 1000 events of history.
func DefaultLimits() Limits {
	return Limits{Timeout: 14 * 24 * time.Hour, Retention: 7 * 24 * time.Hour, MaxHistory: 1000}
}

// NewCatering returns the catering process manager with the given limits.
func NewCatering(limits Limits) (*Manager[Order], error) {
	return NewManager(Catering(), limits)
}
