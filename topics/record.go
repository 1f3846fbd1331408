package topics

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"math/bits"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
	"unsafe"

	"github.com/catering-match/catering-match/state"
)

// RecordSchema is the version of the process record this release writes and
// reads. A record with a higher version was written by a newer release.
const RecordSchema = 1

// wireRecord and wireEntry define the process record's JSON. EncodeProcess
// writes exactly what json.Marshal(wireRecord) would, by hand; DecodeProcess
// reads exactly that shape by hand and leaves everything else to
// json.Unmarshal (decodeProcessSlow).
type wireRecord struct {
	Schema  int         `json:"schema"`
	OrderID string      `json:"order_id"`
	History []wireEntry `json:"history"`
}

type wireEntry struct {
	ID     string `json:"id"`
	Type   string `json:"type"`
	MenuID string `json:"menu_id"`
	At     string `json:"at"`
}

// The fixed parts of the record, in the order EncodeProcess writes them.
const (
	recOpen    = `{"schema":`
	recOrderID = `,"order_id":`
	recHistory = `,"history":[`
	recClose   = `]}`
	entID      = `{"id":`
	entType    = `,"type":`
	entMenuID  = `,"menu_id":`
	entAt      = `,"at":"`
	entClose   = `"}`
	// maxAtLen is the length of a UTC time formatted with RFC3339Nano in
	// years 0000-9999 (longer ones only cost a reallocation).
	maxAtLen = len("2006-01-02T15:04:05.999999999Z")
)

// EncodeProcess returns the changelog value for a process: its own event
// stream, never a snapshot of derived fields. The bytes are identical to
// json.Marshal of the wireRecord (see record_fast_test.go).
func EncodeProcess(orderID string, history []state.Entry) []byte {
	return appendProcess(make([]byte, 0, processSize(orderID, history)), orderID, history)
}

// AppendProcess appends EncodeProcess(orderID, history) to dst, for an
// encoder that keeps many records in one buffer.
func AppendProcess(dst []byte, orderID string, history []state.Entry) []byte {
	return appendProcess(slices.Grow(dst, processSize(orderID, history)), orderID, history)
}

// processSize is at least the length of the record (exactly so, but for
// escapes and shorter times).
func processSize(orderID string, history []state.Entry) int {
	n := len(recOpen) + 1 + len(recOrderID) + len(orderID) + 2 + len(recHistory) + len(recClose)
	for i := range history {
		e := &history[i]
		n += len(entID) + len(entType) + len(entMenuID) + len(entAt) + len(entClose) + 1 + 6 +
			len(e.ID) + len(e.Type) + len(e.Ref) + maxAtLen
	}
	return n
}

func appendProcess(b []byte, orderID string, history []state.Entry) []byte {
	b = append(b, recOpen...)
	b = strconv.AppendInt(b, RecordSchema, 10)
	b = append(b, recOrderID...)
	b = appendJSONString(b, orderID)
	b = append(b, recHistory...)
	for i := range history {
		e := &history[i]
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, entID...)
		b = appendJSONString(b, e.ID)
		b = append(b, entType...)
		b = appendJSONString(b, e.Type)
		b = append(b, entMenuID...)
		b = appendJSONString(b, e.Ref)
		b = append(b, entAt...)
		// RFC3339Nano in UTC writes only digits, '-', ':', 'T', '.' and 'Z':
		// nothing json.Marshal would escape.
		b = appendStamp(b, e.At)
		b = append(b, entClose...)
	}
	return append(b, recClose...)
}

// appendStamp appends s as s.Time().Format(time.RFC3339Nano) writes it
// (2006-01-02T15:04:05.999999999Z, the fraction without trailing zeros and
// without its dot when zero), computing the civil date itself: a Stamp's
// years, 1677-2262, all have four digits. TestAppendStamp compares the
// two.
func appendStamp(b []byte, s state.Stamp) []byte {
	ns := int64(s)
	secs, frac := ns/1e9, ns%1e9
	if frac < 0 {
		secs, frac = secs-1, frac+1e9
	}
	days, sod := secs/86400, secs%86400
	if sod < 0 {
		days, sod = days-1, sod+86400
	}
	y, m, d := civilFromDays(days)
	hh, mm, ss := int(sod/3600), int(sod/60%60), int(sod%60)
	b = append(b, byte('0'+y/1000), byte('0'+y/100%10), byte('0'+y/10%10), byte('0'+y%10), '-',
		byte('0'+m/10), byte('0'+m%10), '-', byte('0'+d/10), byte('0'+d%10), 'T',
		byte('0'+hh/10), byte('0'+hh%10), ':', byte('0'+mm/10), byte('0'+mm%10), ':',
		byte('0'+ss/10), byte('0'+ss%10))
	if frac != 0 {
		var digits [10]byte
		digits[0] = '.'
		n := 9
		for n > 0 && frac%10 == 0 { // trailing zeros are left out
			frac /= 10
			n--
		}
		for i := n; i > 0; i-- {
			digits[i] = byte('0' + frac%10)
			frac /= 10
		}
		b = append(b, digits[:n+1]...)
	}
	return append(b, 'Z')
}

// civilFromDays is the proleptic Gregorian date of the day days after
// 1970-01-01 (H. Hinnant's civil_from_days), for dates in years 0 and on.
func civilFromDays(days int64) (y, m, d int) {
	z := days + 719468
	era := z / 146097
	doe := z - era*146097                                  // [0, 146096]
	yoe := (doe - doe/1460 + doe/36524 - doe/146096) / 365 // [0, 399]
	doy := doe - (365*yoe + yoe/4 - yoe/100)               // [0, 365]
	mp := (5*doy + 2) / 153                                // [0, 11], March is 0
	d = int(doy - (153*mp+2)/5 + 1)
	m = int(mp + 3)
	if m > 12 {
		m -= 12
	}
	y = int(yoe + era*400)
	if m <= 2 {
		y++
	}
	return y, m, d
}

// appendJSONString appends s as json.Marshal encodes it: as is when it is
// plain ASCII (see plainASCII), else by json.Marshal itself (escapes,
// U+2028/U+2029, invalid UTF-8 replaced by U+FFFD).
func appendJSONString(b []byte, s string) []byte {
	if !plainASCII(s) {
		q, _ := json.Marshal(s) // a string cannot fail
		return append(b, q...)
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}

const (
	swarOnes  = 0x0101010101010101
	swarHighs = 0x8080808080808080
)

// plainASCII reports whether json.Marshal writes s as is between quotes:
// only ASCII from 0x20 to 0x7f other than '"', '\\' and the HTML characters
// <, >, & that encoding/json escapes by default. It checks eight bytes at a
// time: each term below has the high bit of a byte set when that byte is
// (below) the constant, exactly so wherever it matters (a borrow only spreads
// up from a byte that is itself a hit).
func plainASCII(s string) bool {
	var bad uint64
	i := 0
	for ; i+8 <= len(s); i += 8 {
		w := uint64(s[i]) | uint64(s[i+1])<<8 | uint64(s[i+2])<<16 | uint64(s[i+3])<<24 |
			uint64(s[i+4])<<32 | uint64(s[i+5])<<40 | uint64(s[i+6])<<48 | uint64(s[i+7])<<56
		bad |= w | swarBelow(w, 0x20) | swarEq(w, '"') | swarEq(w, '\\') |
			swarEq(w, '<') | swarEq(w, '>') | swarEq(w, '&')
	}
	for ; i < len(s); i++ {
		switch c := s[i]; {
		case c < 0x20, c >= 0x80, c == '"', c == '\\', c == '<', c == '>', c == '&':
			return false
		}
	}
	return bad&swarHighs == 0
}

// swarBelow sets the high bit of the bytes of w below c (c <= 0x80), and
// possibly of bytes above one that is.
func swarBelow(w uint64, c byte) uint64 { return (w - uint64(c)*swarOnes) &^ w }

// swarEq sets the high bit of the bytes of w equal to c, and possibly of
// bytes above one that is.
func swarEq(w uint64, c byte) uint64 { return swarBelow(w^uint64(c)*swarOnes, 1) }

// DecodeProcess decodes a changelog value into the order id and history.
// key is the record key; it must equal the record's order_id.
//
// Records written by EncodeProcess are read by a dedicated scanner
// (decodeProcessFast); any other value, and every error, goes through
// decodeProcessSlow, the json.Unmarshal reference, so results and error
// messages are the same whichever path reads a value.
func DecodeProcess(key, value []byte) (string, []state.Entry, error) {
	if orderID, h, ok := decodeProcessFast(key, value); ok {
		return orderID, h, nil
	}
	return decodeProcessSlow(key, value)
}

// decodeProcessSlow is the reference decoder: json.Unmarshal, then the
// record's validation.
func decodeProcessSlow(key, value []byte) (string, []state.Entry, error) {
	var w wireRecord
	if err := json.Unmarshal(value, &w); err != nil {
		return "", nil, fmt.Errorf("process record is not valid JSON: %w", err)
	}
	switch {
	case w.Schema < 1:
		return "", nil, fmt.Errorf("process record has no schema version (got %d)", w.Schema)
	case w.Schema > RecordSchema:
		return "", nil, fmt.Errorf("process record schema %d is newer than this release reads (%d): upgrade the service", w.Schema, RecordSchema)
	case w.OrderID != string(key):
		return "", nil, fmt.Errorf("process record order_id %q differs from record key %q", w.OrderID, key)
	case len(w.History) == 0:
		return "", nil, fmt.Errorf("process record for order %q has an empty history", w.OrderID)
	}
	h := make([]state.Entry, len(w.History))
	for i, e := range w.History {
		at, err := time.Parse(time.RFC3339Nano, e.At)
		if err != nil {
			return "", nil, fmt.Errorf("process record for order %q: history[%d].at: %w", w.OrderID, i, err)
		}
		// An entry keeps its time as Unix nanoseconds (state.Stamp).
		if !state.InStampRange(at) {
			return "", nil, fmt.Errorf("process record for order %q: history[%d].at %q is outside %s to %s, the range of an entry's time", w.OrderID, i, e.At, stampMin, stampMax)
		}
		if e.ID == "" || e.Type == "" {
			return "", nil, fmt.Errorf("process record for order %q: history[%d] needs an id and a type", w.OrderID, i)
		}
		h[i] = state.Entry{ID: e.ID, Type: e.Type, Ref: e.MenuID, At: state.StampOf(at)}
	}
	return w.OrderID, h, nil
}

// stampMin and stampMax are the ends of state.Stamp's range, for errors.
var (
	stampMin = state.Stamp(math.MinInt64).String()
	stampMax = state.Stamp(math.MaxInt64).String()
)

// decodeProcessFast reads exactly the shape EncodeProcess writes: schema 1,
// the keys in that order, no whitespace, strings without escapes or control
// characters and in valid UTF-8, `at` as YYYY-MM-DDTHH:MM:SS[.f…]Z in years
// 1678-2261, non-empty id and type, order_id equal to key. ok is false on any
// deviation; the caller then decodes with decodeProcessSlow. On such input
// json.Unmarshal yields the very same strings (verbatim) and time.Parse the
// same times (time.Date in UTC), so the result is decodeProcessSlow's.
//
// It checks the structure, counts the entries and sizes the strings in one
// walk (which keeps the raw fields of up to 8 entries on the stack; a longer
// history is walked a second time), then parses the times and copies every
// string into one allocation (which only holds the order id, ids, menu ids and the
// types other than the process's own, so the restored state keeps no more
// memory than with one allocation per string).
func decodeProcessFast(key, value []byte) (string, []state.Entry, bool) {
	// The common history is short: one walk keeps its raw fields on the
	// stack; a longer one takes a second walk to extract them.
	type rawEntry struct{ id, typ, menu, at []byte }
	var short [8]rawEntry
	var n, size int
	orderID, ok := walkProcess(value, true, func(i int, id, typ, menu, at []byte) bool {
		if len(id) == 0 || len(typ) == 0 {
			return false
		}
		if i < len(short) {
			short[i] = rawEntry{id, typ, menu, at}
		}
		n++
		size += len(id) + len(menu)
		if _, known := knownType(typ); !known {
			size += len(typ)
		}
		return true
	})
	if !ok || n == 0 || string(orderID) != string(key) {
		return "", nil, false
	}

	var arena strings.Builder
	arena.Grow(len(orderID) + size)
	str := func(b []byte) string {
		start := arena.Len()
		arena.Write(b)
		// The builder never changes bytes it has written, so the
		// substring stays valid whatever it writes next.
		return arena.String()[start:]
	}
	oid := str(orderID)
	h := make([]state.Entry, n)
	fill := func(i int, id, typ, menu, at []byte) bool {
		if i >= n {
			return false
		}
		stamp, ok := parseAtFast(at)
		if !ok {
			return false
		}
		e := &h[i]
		e.ID = str(id)
		if s, known := knownType(typ); known {
			e.Type = s
		} else {
			e.Type = str(typ)
		}
		e.Ref = str(menu)
		e.At = stamp
		return true
	}
	if n <= len(short) {
		for i := range n {
			r := &short[i]
			if !fill(i, r.id, r.typ, r.menu, r.at) {
				return "", nil, false
			}
		}
		return oid, h, true
	}
	if _, ok = walkProcess(value, false, fill); !ok {
		return "", nil, false
	}
	return oid, h, true
}

// DecodeProcessView is DecodeProcess without copies: the order id and the
// entries' strings are views of value, and the entries are appended to
// dst. They are valid while value is and does not change: for a reader
// that copies what it keeps, as a restore does into its store. A value
// outside the fast path's shape is decoded by DecodeProcess (with its
// copies and its errors).
func DecodeProcessView(key, value []byte, dst []state.Entry) (string, []state.Entry, error) {
	start := len(dst)
	orderID, ok := walkProcess(value, true, func(_ int, id, typ, menu, at []byte) bool {
		stamp, ok := parseAtFast(at)
		if !ok || len(id) == 0 || len(typ) == 0 {
			return false
		}
		// The process's own types as their constants: a fold compares the
		// type of every entry, and the same string compares at once.
		t, known := knownType(typ)
		if !known {
			t = view(typ)
		}
		dst = append(dst, state.Entry{ID: view(id), Type: t, Ref: view(menu), At: stamp})
		return true
	})
	if ok && len(dst) > start && string(orderID) == string(key) {
		return view(orderID), dst, nil
	}
	orderID2, h, err := DecodeProcess(key, value)
	if err != nil {
		return "", dst[:start], err
	}
	return orderID2, append(dst[:start], h...), nil
}

// view is b as a string without a copy.
func view(b []byte) string { return unsafe.String(unsafe.SliceData(b), len(b)) }

// knownType returns the constant for the process's own event types, so that
// decoding does not allocate a copy of each.
func knownType(b []byte) (string, bool) {
	switch string(b) {
	case state.CustomerConfirmedMenu:
		return state.CustomerConfirmedMenu, true
	case state.CatererConfirmedMenu:
		return state.CatererConfirmedMenu, true
	case state.CatererDeclinedMenu:
		return state.CatererDeclinedMenu, true
	case state.ConfirmOrderIssued:
		return state.ConfirmOrderIssued, true
	case state.MatchExpired:
		return state.MatchExpired, true
	}
	return "", false
}

// walkProcess checks that value has exactly EncodeProcess's shape, calling
// entry for each history entry with the raw string contents (without quotes).
// It returns the raw order_id; ok is false when the shape differs or entry
// returns false. With check unset it does not check the strings' contents
// (a second pass over a value already walked with check set).
func walkProcess(value []byte, check bool, entry func(i int, id, typ, menu, at []byte) bool) (orderID []byte, ok bool) {
	s := fastScanner{v: value}
	if !s.lit(recOpen) || !s.lit("1") || !s.lit(recOrderID) {
		return nil, false
	}
	if orderID, ok = s.str(check); !ok || !s.lit(recHistory) {
		return nil, false
	}
	for i := 0; ; i++ {
		if !s.lit(entID) {
			return nil, false
		}
		id, ok1 := s.str(check)
		ok2 := s.lit(entType)
		typ, ok3 := s.str(check)
		ok4 := s.lit(entMenuID)
		menu, ok5 := s.str(check)
		// entAt ends with the opening quote of the time and entClose
		// starts with its closing quote. The time is never checked here:
		// every caller parses it with parseAtFast, which takes nothing but
		// digits and the layout's ASCII.
		ok6 := s.lit(entAt[:len(entAt)-1])
		at, ok7 := s.str(false)
		if !(ok1 && ok2 && ok3 && ok4 && ok5 && ok6 && ok7 && s.lit(entClose[1:])) {
			return nil, false
		}
		if !entry(i, id, typ, menu, at) {
			return nil, false
		}
		if s.lit(",") {
			continue
		}
		if !s.lit(recClose) || s.p != len(s.v) {
			return nil, false
		}
		return orderID, true
	}
}

type fastScanner struct {
	v []byte
	p int
}

// lit consumes l if the input continues with it.
func (s *fastScanner) lit(l string) bool {
	if len(s.v)-s.p < len(l) || string(s.v[s.p:s.p+len(l)]) != l {
		return false
	}
	s.p += len(l)
	return true
}

// str consumes a JSON string. When check is set it must be one that
// json.Unmarshal returns verbatim (see plainJSONString); otherwise the caller
// has already checked it. It returns the contents without the quotes.
func (s *fastScanner) str(check bool) ([]byte, bool) {
	if s.p >= len(s.v) || s.v[s.p] != '"' {
		return nil, false
	}
	start := s.p + 1
	if !check {
		n := bytes.IndexByte(s.v[start:], '"')
		if n < 0 {
			return nil, false
		}
		s.p = start + n + 1
		return s.v[start : start+n], true
	}
	n, ok := plainUntilQuote(s.v[start:])
	if !ok {
		return nil, false
	}
	s.p = start + n + 1
	return s.v[start : start+n], true
}

// plainUntilQuote finds the first '"' in b and reports whether the bytes
// before it are plainJSONString: one pass, eight bytes at a time, where
// bytes.IndexByte and then plainJSONString would read them twice. The
// SWAR terms can only be wrong above a byte that truly matches (see
// plainASCII), so the lowest quote they mark is the first quote, and a
// bad byte they mark below it is truly bad.
func plainUntilQuote(b []byte) (n int, ok bool) {
	var high uint64
	i := 0
	for ; i+8 <= len(b); i += 8 {
		w := binary.LittleEndian.Uint64(b[i:])
		quote := swarEq(w, '"') & swarHighs
		bad := (swarBelow(w, 0x20) | swarEq(w, '\\')) & swarHighs
		if quote != 0 {
			below := quote&-quote - 1 // the bits of the bytes before the quote
			if bad&below != 0 {
				return 0, false
			}
			n = i + bits.TrailingZeros64(quote)/8
			high |= w & below
			return n, high&swarHighs == 0 || utf8.Valid(b[:n])
		}
		if bad != 0 {
			return 0, false
		}
		high |= w
	}
	for ; i < len(b); i++ {
		c := b[i]
		if c == '"' {
			return i, high&swarHighs == 0 || utf8.Valid(b[:i])
		}
		if c < 0x20 || c == '\\' {
			return 0, false
		}
		high |= uint64(c)
	}
	return 0, false
}

// plainJSONString reports whether b, the contents of a JSON string, has no
// backslash, no control character (which JSON forbids) and is valid UTF-8:
// then json.Unmarshal returns b as is. It checks eight bytes at a time.
func plainJSONString(b []byte) bool {
	var bad, high uint64
	i := 0
	for ; i+8 <= len(b); i += 8 {
		w := binary.LittleEndian.Uint64(b[i:])
		high |= w
		bad |= swarBelow(w, 0x20) | swarEq(w, '\\')
	}
	for ; i < len(b); i++ {
		c := b[i]
		high |= uint64(c)
		if c < 0x20 || c == '\\' {
			return false
		}
	}
	if bad&swarHighs != 0 {
		return false
	}
	return high&swarHighs == 0 || utf8.Valid(b)
}

// parseAtFast parses YYYY-MM-DDTHH:MM:SSZ or YYYY-MM-DDTHH:MM:SS.fZ with 1
// to 9 fraction digits, in years 1678-2261 (wholly inside state.Stamp's
// range), into the Stamp of what time.Parse(time.RFC3339Nano) gives. ok is
// false for anything else, valid or not. It computes the Unix time itself
// (days from the civil date), without time.Date's normalisation.
func parseAtFast(b []byte) (state.Stamp, bool) {
	if len(b) < len("2006-01-02T15:04:05Z") || len(b) > maxAtLen || b[len(b)-1] != 'Z' ||
		b[4] != '-' || b[7] != '-' || b[10] != 'T' || b[13] != ':' || b[16] != ':' {
		return 0, false
	}
	// Fourteen digits at fixed places: each checked, then combined.
	for _, i := range [...]int{0, 1, 2, 3, 5, 6, 8, 9, 11, 12, 14, 15, 17, 18} {
		if b[i]-'0' > 9 {
			return 0, false
		}
	}
	d := func(i int) int { return int(b[i] - '0') }
	year := d(0)*1000 + d(1)*100 + d(2)*10 + d(3)
	month := d(5)*10 + d(6)
	day := d(8)*10 + d(9)
	hour := d(11)*10 + d(12)
	minute := d(14)*10 + d(15)
	sec := d(17)*10 + d(18)
	if year < 1678 || year > 2261 || month < 1 || month > 12 || day < 1 || day > daysIn(month, year) ||
		hour < 0 || hour > 23 || minute < 0 || minute > 59 || sec < 0 || sec > 59 {
		return 0, false
	}
	nsec := 0
	if frac := b[19 : len(b)-1]; len(frac) > 0 {
		if len(frac) < 2 || frac[0] != '.' {
			return 0, false
		}
		f := digits(frac[1:])
		if f < 0 {
			return 0, false
		}
		for range 10 - len(frac) {
			f *= 10
		}
		nsec = f
	}
	secs := daysFromCivil(year, month, day)*86400 + int64(hour*3600+minute*60+sec)
	return state.Stamp(secs*1e9 + int64(nsec)), true
}

// daysFromCivil is the number of days from 1970-01-01 to the date y-m-d
// of the proleptic Gregorian calendar, for y >= 0 (H. Hinnant's
// days_from_civil, with eras of 400 years that start on March 1).
func daysFromCivil(y, m, d int) int64 {
	if m <= 2 {
		y--
	}
	era := y / 400
	yoe := y - era*400                     // [0, 399]
	mp := (m + 9) % 12                     // March is 0
	doy := (153*mp+2)/5 + d - 1            // [0, 365]
	doe := yoe*365 + yoe/4 - yoe/100 + doy // [0, 146096]
	return int64(era*146097 + doe - 719468)
}

// digits returns the decimal value of b, or -1 if b holds a non-digit.
func digits(b []byte) int {
	x := 0
	for _, c := range b {
		if c < '0' || c > '9' {
			return -1
		}
		x = x*10 + int(c-'0')
	}
	return x
}

func daysIn(month, year int) int {
	switch month {
	case 2:
		if year%4 == 0 && (year%100 != 0 || year%400 == 0) {
			return 29
		}
		return 28
	case 4, 6, 9, 11:
		return 30
	}
	return 31
}
