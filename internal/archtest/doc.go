// Package archtest holds no code: its test enforces the dependency direction of
// docs/architecture.md ("Dependency direction") across the whole module.
package archtest
