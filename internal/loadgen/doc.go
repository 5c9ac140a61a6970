// Package loadgen is Weft's load generator. It drives any Fabric-compatible
// network through Fabric's public protocols only — Endorser/ProcessProposal,
// AtomicBroadcast/Broadcast and Deliver/DeliverFiltered — with an identity from
// an MSP folder and peers from connection profiles.
//
// It signs every proposal before the clock starts and counts only what
// committed blocks report. A transaction is in flight from the moment its
// proposal is sent until its commit is seen (or it fails): a closed loop
// (Config.Concurrency) keeps that many in flight, an open loop (Config.Rate)
// starts proposals at a fixed rate whatever has committed, under a reported
// in-flight cap. Latency is proposal sent → commit seen. Every run is bounded
// in count and time. A run uses one P (GOMAXPROCS 1, unless the environment
// sets GOMAXPROCS): it needs a fraction of a core, and one P spares the
// machine the thread wake-ups that would otherwise come with nearly every
// message at low load.
//
// Besides the run it offers what `weft bench` reports around it: CPU and
// peak RSS of other processes (ReadProcStat), a Zipf sampler and the
// hot-key transfer workload (Transfers), and the signature bound: the ECDSA
// work per transaction of a topology as Fabric's protocol asks it
// (Topology.ProtocolPerTx, the count issue 15's bound uses) and as Weft does
// it (Topology.PerTx), and its cost on this machine, measured in-process
// (MeasureECDSA).
package loadgen
