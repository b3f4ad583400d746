# prepuller image: the controller/webhook and the no-op program its puller
# pods run (copied into each puller pod; see docs/install.md).
# Build: docker build -t ghcr.io/prepuller/prepuller:dev .
# Without Docker, `make image` builds the equivalent image (same binaries,
# paths, user, entrypoint and command; FROM scratch with a passwd entry
# instead of distroless, whose CA bundle and tzdata prepuller does not use).
FROM golang:1.26 AS build
WORKDIR /src
# Dependencies first, so source edits do not re-download modules.
COPY go.mod go.sum ./
RUN go mod download
COPY . .
# Static binaries: the runtime image has no libc.
ENV CGO_ENABLED=0 GOFLAGS=-trimpath
ARG TARGETOS=linux
ARG TARGETARCH=amd64
RUN GOOS=$TARGETOS GOARCH=$TARGETARCH go build -ldflags="-s -w" -o /out/prepuller ./cmd/prepuller && \
    GOOS=$TARGETOS GOARCH=$TARGETARCH go build -ldflags="-s -w" -o /out/prepuller-noop ./cmd/prepuller-noop

FROM gcr.io/distroless/static:nonroot
COPY --from=build /out/prepuller /usr/local/bin/prepuller
COPY --from=build /out/prepuller-noop /usr/local/bin/prepuller-noop
# 65532 is distroless's nonroot user; the manifests run as it too.
USER 65532:65532
ENTRYPOINT ["/usr/local/bin/prepuller"]
CMD ["serve", "--config=/etc/prepuller/config.yaml"]
