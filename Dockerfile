# syntax=docker/dockerfile:1
# The catering-match image: both binaries (catering-match, catering), static, on a minimal
# base, as a non-root user.
#
#   docker build -t catering-match .
#
# The base images are build arguments with the public images as defaults. Where no registry
# is reachable, integration/containers/podman.sh builds local bases and passes them
# (BUILDER_IMAGE: Debian plus the Go toolchain; RUNTIME_IMAGE: scratch).
ARG BUILDER_IMAGE=golang:1.26-bookworm
ARG RUNTIME_IMAGE=gcr.io/distroless/static-debian12:nonroot

FROM ${BUILDER_IMAGE} AS build
WORKDIR /src
ARG GOPROXY
ENV CGO_ENABLED=0 GOFLAGS=-buildvcs=false GOPROXY=${GOPROXY}
COPY . .
# Only the modules the two binaries import are fetched (not the tests' dependencies).
RUN --mount=type=cache,target=/root/go/pkg/mod --mount=type=cache,target=/root/.cache/go-build \
    go build -trimpath -ldflags='-s -w' -o /out/usr/local/bin/ ./cmd/catering-match ./cmd/catering
# What a scratch base lacks: CA certificates (TLS to the brokers), the users, the data dir.
RUN mkdir -p /out/etc/ssl/certs /out/data /out/tmp && \
    cp /etc/ssl/certs/ca-certificates.crt /out/etc/ssl/certs/ && \
    printf 'root:x:0:0:root:/root:/sbin/nologin\nnobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n' >/out/etc/passwd && \
    printf 'root:x:0:\nnobody:x:65534:\nnonroot:x:65532:\n' >/out/etc/group && \
    chmod 1777 /out/tmp

FROM ${RUNTIME_IMAGE}
COPY --from=build /out/etc/ /etc/
COPY --from=build /out/tmp/ /tmp/
COPY --from=build --chown=65532:65532 /out/data/ /data/
COPY --from=build /out/usr/local/bin/ /usr/local/bin/
USER 65532:65532
# In a container the operations endpoints listen on every interface (the binary's default is
# 127.0.0.1:8080), and the embedded broker, used when CATERING_BROKERS is empty, persists to
# the /data volume.
ENV CATERING_HTTP_ADDR=:8080 \
    CATERING_DATA_DIR=/data
EXPOSE 8080
VOLUME /data
# /healthz: the process runs and serves. /readyz (joined and restored) is for orchestrators.
HEALTHCHECK --interval=10s --timeout=5s --start-period=20s --retries=3 \
    CMD ["/usr/local/bin/catering", "probe", "http://127.0.0.1:8080/healthz"]
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/local/bin/catering-match"]
