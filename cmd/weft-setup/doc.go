// Command weft-setup is the one-shot setup of the docker-compose network of
// deploy/docker-compose.yaml: it prepares the network's files on the host and
// sets the network up from inside the compose network, with the weft CLI's
// own commands run in process (the setup image is FROM scratch: there is no
// shell to run a script). It is specific to that network — its layout,
// service names and inputs in deploy/config — and not a general tool; use
// the weft CLI for anything else.
//
//	weft-setup generate -config deploy/config -out deploy/build/network
//	    on the host, before `docker-compose up`: crypto material (weft crypto
//	    generate), the channel's genesis block (weft genesis), the basic
//	    chaincode-as-a-service package (weft chaincode package --lang ccaas),
//	    chaincode/basic.id holding its package ID, which the basic
//	    container reads at start (CHAINCODE_ID_FILE), and restgateway/token,
//	    the REST gateway's bearer token (deploy/config/restgateway.yaml binds
//	    it to User1@org1.example.com; a folder without one gets one).
//	weft-setup join -dir /network
//	    in the one-shot setup container: joins the three orderers (osnadmin) and
//	    the four peers to mychannel, installs basic on every peer, approves it
//	    for Org1MSP and Org2MSP on their peer0s only, commits it, runs InitLedger and waits until
//	    every peer has the assets.
//	weft-setup print -dir DIR
//	    prints the commands `join` runs as a shell script, for doing it by hand.
//
// Each join step is skipped when a query shows it done, and retried (once a
// second, up to -timeout) while it fails, so setup copes with nodes that are
// still starting and can run again on a network that is already set up.
//
// Like every command under cmd/, `make build` builds it (bin/weft-setup);
// deploy/images.sh (make docker, make compose-up) builds it statically into
// deploy/build/bin/weft-setup, which compose-up runs on the host, and into
// the weft/setup image beside the weft CLI.
package main
