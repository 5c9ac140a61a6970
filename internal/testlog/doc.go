// Package testlog is a log sink for tests: the goroutines of the code under
// test write to it while the test reads what was logged, without a data race.
package testlog
