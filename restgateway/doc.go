// Package restgateway is Weft's REST gateway: an HTTP/JSON service in front
// of a peer, described by an OpenAPI 3 document (/openapi.json, rendered at
// /docs). It is not Fabric's Gateway service, which peers serve (peer/gateway);
// it is a client of that service.
//
// It talks to the peer over gRPC only — the Fabric Gateway service
// (Evaluate, Endorse, Submit, CommitStatus, ChaincodeEvents) and the qscc
// system chaincode (chain info, blocks, transactions) — so it fronts a
// Hyperledger Fabric v2.5 peer as well as a Weft one. It never imports peer/
// or orderer/.
//
// Two ways to sign. The REST gateway signs with identities from a wallet
// folder (see LoadWallet), chosen per request by the X-Weft-Identity header or
// the configured default — for trusted back-ends. Or the client signs: prepare
// returns a gateway.ProposedTransaction and its digest, endorse takes the
// signed proposal and returns a gateway.PreparedTransaction and its digest,
// commit takes the signed transaction — the offline-signing messages of the
// fabric-gateway clients — so private keys never leave the client; the REST
// gateway checks each signature before the peer sees it.
//
// Every failure is a JSON Error with a stable code, a message naming the
// cause (each organisation's endorsement failure from the Gateway's
// ErrorDetail, the validation code of a transaction committed invalid) and
// the HTTP status that fits. Request bodies are limited
// (restgateway.bodyLimit).
//
// Run starts the whole service from a Config (restgateway.yaml, WEFT_*
// environment overrides). The package keeps no global state; a Server holds
// no connection of its own (the caller owns Options.Conn).
package restgateway
