// Command setup prepares and sets up the docker-compose network of
// deploy/docker-compose.yaml with the weft CLI's own commands, run in process
// (the setup image is FROM scratch: there is no shell to run a script).
//
//	setup generate -config deploy/config -out deploy/build/network
//	    on the host, before `docker-compose up`: crypto material (weft crypto
//	    generate), the channel's genesis block (weft genesis), the basic
//	    chaincode-as-a-service package (weft chaincode package --lang ccaas)
//	    and chaincode/basic.id holding its package ID, which the basic
//	    container reads at start (CHAINCODE_ID_FILE).
//	setup join -dir /network
//	    in the one-shot setup container: joins the three orderers (osnadmin) and
//	    the four peers to mychannel, installs basic on every peer, approves it
//	    for Org1MSP and Org2MSP, commits it, runs InitLedger and waits until
//	    every peer has the assets.
//	setup print -dir DIR
//	    prints the commands `join` runs as a shell script, for doing it by hand.
//
// Each join step is skipped when a query shows it done, and retried (once a
// second, up to -timeout) while it fails, so setup copes with nodes that are
// still starting and can run again on a network that is already set up.
package main
