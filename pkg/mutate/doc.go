// Package mutate holds meshguard's mutating rules, one file each.
//
// A mutating rule reports policy.Change findings whose JSON patch operations
// touch only the fields it owns, relative to the object as the API server sent
// it; fields it does not know survive untouched. The policy engine decides
// whether a change is applied (enforce) or only shown (audit).
package mutate
