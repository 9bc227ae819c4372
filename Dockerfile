# For those with Docker; this repository's CI cannot run it, so `make image`
# (hack/image, no container engine needed; docs/image.md) is what CI keeps
# green. Both give the same filesystem: /webhook, /etc/passwd and /etc/group
# from hack/image/rootfs, and an empty, sticky /tmp.
FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
RUN CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -buildid= -X main.version=${VERSION}" -o /rootfs/webhook ./cmd/webhook
RUN install -D -m 0644 hack/image/rootfs/etc/passwd /rootfs/etc/passwd \
 && install -m 0644 hack/image/rootfs/etc/group /rootfs/etc/group \
 && install -d -m 1777 /rootfs/tmp

FROM scratch
COPY --from=build /rootfs/ /
USER 65532:65532
WORKDIR /
ENTRYPOINT ["/webhook"]
CMD ["serve"]
