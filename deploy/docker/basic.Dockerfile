# weft/basic: the asset-transfer-basic sample chaincode as a chaincode server
# (chaincode-as-a-service); the peers dial it at the address of the package's
# connection.json. CHAINCODE_ID, or the file CHAINCODE_ID_FILE names, must
# give the installed package's ID.
FROM scratch
LABEL weft.image=basic
COPY basic /usr/local/bin/basic
COPY --chown=10001:10001 tmp /tmp
ENV CHAINCODE_SERVER_ADDRESS=0.0.0.0:9999
USER 10001:10001
EXPOSE 9999
ENTRYPOINT ["/usr/local/bin/basic"]
