# weft/orderer: the ordering node, FROM scratch with the static binary (built
# by deploy/images.sh, which fills the build context).
FROM scratch
LABEL weft.image=orderer
COPY orderer /usr/local/bin/orderer
COPY orderer.yaml /etc/hyperledger/fabric/orderer.yaml
COPY --chown=10001:10001 data /var/hyperledger/production
COPY --chown=10001:10001 tmp /tmp
ENV FABRIC_CFG_PATH=/etc/hyperledger/fabric
USER 10001:10001
WORKDIR /var/hyperledger/production
ENTRYPOINT ["/usr/local/bin/orderer"]
