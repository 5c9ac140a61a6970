// Package archtest holds no code: its test enforces the dependency direction of
// DESIGN.md across the whole module.
package archtest
