# weft/setup: the weft CLI and weft-setup (cmd/weft-setup), which runs the CLI's
# commands in process to join the nodes to mychannel and deploy basic. The
# CLI is there for commands by hand:
#   docker-compose -f deploy/docker-compose.yaml run --rm --entrypoint weft setup channel list
FROM scratch
LABEL weft.image=setup
COPY weft weft-setup /usr/local/bin/
COPY --chown=10001:10001 tmp /tmp
USER 10001:10001
ENTRYPOINT ["/usr/local/bin/weft-setup"]
CMD ["join", "-dir", "/network"]
