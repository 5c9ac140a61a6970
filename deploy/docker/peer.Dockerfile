# weft/peer: the peer node, FROM scratch with the static binary (built by
# deploy/images.sh, which fills the build context). No shell, no CA bundle:
# TLS roots come from the network's own crypto material.
FROM scratch
LABEL weft.image=peer
COPY peer /usr/local/bin/peer
COPY core.yaml /etc/hyperledger/fabric/core.yaml
# Writable by the node's user, so that a new named volume mounted there
# starts owned by it too; /tmp for Go's os.TempDir.
COPY --chown=10001:10001 data /var/hyperledger/production
COPY --chown=10001:10001 tmp /tmp
ENV FABRIC_CFG_PATH=/etc/hyperledger/fabric
USER 10001:10001
WORKDIR /var/hyperledger/production
ENTRYPOINT ["/usr/local/bin/peer"]
CMD ["node", "start"]
