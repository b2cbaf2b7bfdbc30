# dynamod in a scratch image: the static binary, nothing else.
#
# There is no Go toolchain image to build in (no registry on our machines),
# so the binary is built on the host and copied in. Build with
#   make docker            (or scripts/docker-build.sh)
# which stages a context holding only the CGO_ENABLED=0 binary and an empty
# data/ directory, then runs docker build on it.
FROM scratch

# scratch has no mkdir and no users: /data comes from an empty directory
# copied with the runtime user's ids, so that the non-root user can write
# it and named volumes mounted there inherit that owner.
COPY --chown=10001:10001 data/ /data/
# /certs likewise, for the certificates volume of the compose files
# (written once by `dynamod certs init`, read by every node).
COPY --chown=10001:10001 certs/ /certs/
COPY dynamod /dynamod

# Container defaults: listen on every interface, keep data in /data. The
# compose files add --name, --advertise (the service name) and --join.
ENV DYNAMOD_DATA=/data \
    DYNAMOD_HTTP=0.0.0.0:7070 \
    DYNAMOD_RPC=0.0.0.0:7071 \
    DYNAMOD_GOSSIP=0.0.0.0:7946

USER 10001:10001
VOLUME ["/data"]
# 7070 client HTTP API, 7071 node-to-node, 7946 gossip (TCP and UDP).
EXPOSE 7070 7071 7946 7946/udp

# Exec form: scratch has no shell. health pings 127.0.0.1:7070.
HEALTHCHECK --interval=5s --timeout=4s --start-period=10s --retries=3 \
    CMD ["/dynamod", "health"]

ENTRYPOINT ["/dynamod"]
CMD ["serve"]
