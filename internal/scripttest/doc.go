// Package scripttest reads the data-driven test scripts that Weft's
// deterministic state machines are tested with (orderer/blockcutter,
// orderer/raftchain's bookkeeper): a command line, a "----" line, the
// expected output, and a blank line between cases; '#' lines between cases
// are comments. Each test interprets the commands itself.
package scripttest
