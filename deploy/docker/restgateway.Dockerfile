# weft/restgateway: the REST gateway (HTTP/JSON in front of a peer), FROM
# scratch with the static binary; restgateway.yaml from sampleconfig as the
# default configuration. Mount your own (with restgateway.auth: the tokens or
# client certificates callers authenticate with) and start it with
# `start --config <file>`, as deploy/docker-compose.yaml does with
# deploy/config/restgateway.yaml; WEFT_RESTGATEWAY_* variables override keys.
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
