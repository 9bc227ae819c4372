package policies

import (
	"fmt"
	"strconv"
	"strings"
)

// lit is s as a CEL string literal.
func lit(s string) string { return strconv.Quote(s) }

// litList is ss as a CEL list of string literals.
func litList(ss ...string) string {
	q := make([]string, len(ss))
	for i, s := range ss {
		q[i] = lit(s)
	}
	return "[" + strings.Join(q, ", ") + "]"
}

// isAddr is the webhook's isIPLiteral (netip.ParseAddr, or ParsePrefix when
// there is a slash) in CEL. CEL's ip and cidr parse with the same netip
// functions but refuse zones and IPv4-mapped IPv6 addresses.
func isAddr(x string) string { return fmt.Sprintf("(isIP(%[1]s) || isCIDR(%[1]s))", x) }

// addrKey is the webhook's parseAddress as a comparable string: a plain IP
// as its single-host prefix, so 169.254.169.254 and 169.254.169.254/32 are
// the same address. Only for x that isAddr.
func addrKey(x string) string {
	return fmt.Sprintf("(isIP(%[1]s) ? string(ip(%[1]s)) + (ip(%[1]s).family() == 4 ? '/32' : '/128') : string(cidr(%[1]s)))", x)
}

// addrString is the webhook's addressString: how an address is written to
// spec.addresses (a single-host prefix as the plain IP). Only for x that
// isAddr.
func addrString(x string) string {
	return fmt.Sprintf("(isIP(%[1]s) ? string(ip(%[1]s)) : cidr(%[1]s).prefixLength() == (cidr(%[1]s).ip().family() == 4 ? 32 : 128) ? string(cidr(%[1]s).ip()) : string(cidr(%[1]s)))", x)
}

// listSome is the webhook's listSome: up to maxListed items joined with
// sep, beyond that the first maxListed joined with ", " and a count.
func listSome(list, sep string) string {
	return fmt.Sprintf("(size(%[1]s) <= %[3]d ? %[1]s.join(%[2]s) : %[1]s.slice(0, %[3]d).join(', ') + ' and ' + string(size(%[1]s) - %[3]d) + ' more')", list, lit(sep), maxListed)
}

// maxListed is pkg/mutate's bound on the hosts one message names.
const maxListed = 10

// joinAnd joins a non-empty list as "a, b and c".
func joinAnd(list string) string {
	return fmt.Sprintf("(size(%[1]s) == 0 ? '' : size(%[1]s) == 1 ? %[1]s[0] : %[1]s.slice(0, size(%[1]s) - 1).join(', ') + ' and ' + %[1]s[size(%[1]s) - 1])", list)
}

// displayName is policy.Meta.DisplayName in CEL.
const displayName = "(object.metadata.?name.orValue('') == '' && object.metadata.?generateName.orValue('') != '' ? object.metadata.generateName + '*' : object.metadata.?name.orValue(''))"
