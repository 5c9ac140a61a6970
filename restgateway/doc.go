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
// Every caller authenticates (auth.go): with a bearer token
// (restgateway.auth.tokens) or, over mutual TLS, a client certificate
// (restgateway.auth.clientCerts). Each credential is bound when the server
// starts to at most one wallet identity, and an admin identity only when its
// entry says allowAdmin; the X-Weft-Identity header can only repeat the bound
// identity. Before authentication, requests must name an allowed host (DNS
// rebinding) and come from an allowed browser origin, if any; POST bodies
// must be declared JSON (guard.go). Event streams are counted, in all and
// per credential. /openapi.json and /docs are served without a credential.
// docs/restgateway.md has the threat model.
//
// Two ways to sign. The REST gateway signs with the wallet identity (see
// LoadWallet) of the caller's credential — for trusted back-ends. Or the
// client signs: prepare
// returns a gateway.ProposedTransaction and its digest, endorse takes the
// signed proposal and returns a gateway.PreparedTransaction and its digest,
// commit takes the signed transaction — the offline-signing messages of the
// fabric-gateway clients — so private keys never leave the client; the REST
// gateway checks each signature before the peer sees it.
//
// Every failure is a JSON Error with a stable code, a message naming the
// cause (each organisation's endorsement failure from the Gateway's
// ErrorDetail, the validation code of a transaction committed invalid, the
// header or limit that refused a request) and the HTTP status that fits.
// Request bodies are limited (restgateway.bodyLimit); reading a request and
// each write of a response are bounded in time (restgateway.http.*), so
// slow clients cannot hold connections, while event streams live as long as
// their lifetime allows.
//
// Run starts the whole service from a Config (restgateway.yaml, WEFT_*
// environment overrides), with HTTPS when restgateway.tls is enabled. The
// package keeps no global state; a Server holds no connection of its own
// (the caller owns Options.Conn).
package restgateway
