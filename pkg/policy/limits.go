package policy

import (
	"fmt"
	"strconv"
	"unicode/utf8"
)

// Limits bound what one response carries, so no object a namespace user can
// write makes the webhook build, hold or send a response larger than the API
// server uses. A zero field means no bound.
type Limits struct {
	// Warnings is the most warnings (and, separately, denial messages) one
	// response carries; the rest are summed up in one last line naming
	// their count and rules.
	Warnings int
	// MessageBytes bounds one warning, denial message or audit annotation
	// value; longer ones are cut at a UTF-8 boundary with a note of how much
	// was cut.
	MessageBytes int
	// PatchBytes bounds the JSON patch of one response. A rule whose
	// changes would take it past the bound changes nothing and says so.
	PatchBytes int
}

// DefaultLimits are the bounds of the webhook's responses. The API server
// shows at most 4096 characters of warnings per response (cutting each to
// 256 once they exceed that), and it refuses request bodies over 3 MiB, so
// a patch beyond that yields an object it would not store anyway.
func DefaultLimits() Limits {
	return Limits{Warnings: 16, MessageBytes: 4 << 10, PatchBytes: 3 << 20}
}

// clipMessage cuts msg to the limit, keeping whole UTF-8 characters.
func (l Limits) clipMessage(msg string) string {
	if l.MessageBytes <= 0 || len(msg) <= l.MessageBytes {
		return msg
	}
	cut := l.MessageBytes
	for cut > 0 && !utf8.RuneStart(msg[cut]) {
		cut--
	}
	return msg[:cut] + " … (" + strconv.Itoa(len(msg)-cut) + " more bytes not shown)"
}

// capped collects messages up to a count, counting what it drops per rule
// so the summary line can say where the rest came from.
type capped struct {
	limit   int
	msgs    []string
	rules   []string // the rule of each kept message
	dropped int
	byRule  map[string]int
	order   []string // rules in the order their first dropped message came
}

func (c *capped) add(rule, msg string) {
	if c.limit <= 0 || len(c.msgs) < c.limit {
		c.msgs = append(c.msgs, msg)
		c.rules = append(c.rules, rule)
		return
	}
	c.drop(rule)
}

func (c *capped) drop(rule string) {
	c.dropped++
	if c.byRule == nil {
		c.byRule = map[string]int{}
	}
	if c.byRule[rule] == 0 {
		c.order = append(c.order, rule)
	}
	c.byRule[rule]++
}

// list returns the kept messages and, when some were dropped, a last line
// saying how many and from which rules, in place of the last kept one so
// the count stays within the limit.
func (c *capped) list(what string) []string {
	if c.dropped == 0 {
		return c.msgs
	}
	last := len(c.msgs) - 1
	c.drop(c.rules[last]) // the message the summary replaces counts among the rest
	var from []byte
	for i, r := range c.order {
		if i > 0 {
			from = append(from, ", "...)
		}
		from = fmt.Appendf(from, "%d from %s", c.byRule[r], r)
	}
	summary := fmt.Sprintf("[meshguard] %d more %s not shown (%s): a response carries at most %d", c.dropped, what, from, c.limit)
	return append(c.msgs[:last:last], summary)
}
