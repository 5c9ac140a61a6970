# weft/restgateway: the REST gateway (HTTP/JSON in front of a peer), FROM
# scratch with the static binary; restgateway.yaml from sampleconfig, to be
# overridden with WEFT_RESTGATEWAY_* environment variables (see
# deploy/docker-compose.yaml).
FROM scratch
LABEL weft.image=restgateway
COPY restgateway /usr/local/bin/restgateway
COPY restgateway.yaml /etc/hyperledger/fabric/restgateway.yaml
COPY --chown=10001:10001 tmp /tmp
ENV FABRIC_CFG_PATH=/etc/hyperledger/fabric
USER 10001:10001
EXPOSE 8080
ENTRYPOINT ["/usr/local/bin/restgateway"]
CMD ["start"]
