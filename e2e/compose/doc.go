// Package compose tests the docker-compose network of deploy/ on the local
// Docker engine: it builds the images FROM scratch (deploy/images.sh),
// generates the network material (weft-setup generate), starts
// deploy/docker-compose.yaml under a project name of its own with free host
// ports, waits for the one-shot setup container, then submits through the
// REST gateway and through the official fabric-gateway client, stops an
// orderer and a peer container and still commits, restarts them and checks
// that every node catches up. The project is taken down with its volumes
// (docker-compose down -v) when the test ends, passed or failed.
//
// It needs the docker CLI with a running daemon and docker-compose (or the
// `docker compose` plugin), and fails saying so when they are missing.
// Images are tagged weft/*:e2e, so they do not replace those of `make docker`.
package compose
