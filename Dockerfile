# The healthd image: the worker and starter binaries, static, on an empty
# base with CA certificates and a non-root user; no shell. One image for
# every process: the command says which (worker health, worker engine,
# worker bridge, worker migrate; starter ...).
#
#   docker build -t healthd .                # needs the official Go image
#   scripts/image.sh                         # the same image, built here without pulling anything
#
# Its metadata (user, port, health check, entrypoint) is the same in
# deploy/docker/Dockerfile.prebuilt, which scripts/image.sh uses.
ARG GO_IMAGE=golang:1.26-bookworm
FROM ${GO_IMAGE} AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN sh deploy/docker/rootfs.sh /rootfs

FROM scratch
COPY --from=build /rootfs/ /
USER 65532:65532
ENV METRICS_ADDR=0.0.0.0:9464
EXPOSE 9464
HEALTHCHECK --interval=10s --timeout=6s --start-period=30s --retries=3 CMD ["/usr/local/bin/worker", "ready"]
ENTRYPOINT ["/usr/local/bin/worker"]
CMD ["--help"]
