#!/bin/sh
# rootfs.sh OUT: builds the image's whole file tree into OUT, from the
# project's sources: static worker and starter binaries, the CA certificates
# of the machine that builds, and a passwd/group naming the non-root user
# (65532) the processes run as. The Dockerfile's build stage and
# scripts/image.sh both run it, so that the two images hold the same files.
set -eu
out=$1
mkdir -p "$out/usr/local/bin" "$out/etc/ssl/certs" "$out/tmp"
for cmd in worker starter; do
	CGO_ENABLED=0 go build -trimpath -ldflags='-s -w' -o "$out/usr/local/bin/$cmd" "./$cmd"
done
cp /etc/ssl/certs/ca-certificates.crt "$out/etc/ssl/certs/ca-certificates.crt"
printf 'root:x:0:0:root:/root:/sbin/nologin\nhealthd:x:65532:65532:healthd:/nonexistent:/sbin/nologin\n' >"$out/etc/passwd"
printf 'root:x:0:\nhealthd:x:65532:\n' >"$out/etc/group"
chmod 1777 "$out/tmp"
