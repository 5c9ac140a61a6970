# weft/gateway: the REST gateway (HTTP/JSON in front of a peer), FROM scratch
# with the static binary; gateway.yaml from sampleconfig, to be overridden
# with WEFT_* environment variables (see deploy/docker-compose.yaml).
FROM scratch
LABEL weft.image=gateway
COPY gateway /usr/local/bin/gateway
COPY gateway.yaml /etc/hyperledger/fabric/gateway.yaml
COPY --chown=10001:10001 tmp /tmp
ENV FABRIC_CFG_PATH=/etc/hyperledger/fabric
USER 10001:10001
EXPOSE 8080
ENTRYPOINT ["/usr/local/bin/gateway"]
CMD ["start"]
