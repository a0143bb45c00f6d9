# etcd for semaphored's high availability (docker/compose-ha.yaml): Debian 12's
# etcd-server package (etcd 3.4) on the same base image as docker/Dockerfile, run as a
# non-root user with its data on a volume. Nothing is downloaded but Debian packages
# through the base image's apt sources.
#
# Build (the context is not used; docker/ keeps it small):
#   docker build -f docker/etcd.Dockerfile -t semaphored-etcd docker
# Where no image registry is reachable, with the local Debian 12 base:
#   docker build -f docker/etcd.Dockerfile --build-arg BASE_IMAGE="$(docker/base-image.sh)" \
#     -t semaphored-etcd docker
#
# Run as it is, it is a single member answering on 2379 (fine for trying things out,
# not highly available). A member of a cluster sets, each its own (see
# docker/compose-ha.yaml): ETCD_NAME, ETCD_ADVERTISE_CLIENT_URLS,
# ETCD_INITIAL_ADVERTISE_PEER_URLS; and alike on every member: ETCD_INITIAL_CLUSTER,
# ETCD_INITIAL_CLUSTER_TOKEN, ETCD_INITIAL_CLUSTER_STATE=new. Every etcd flag --NAME can
# be given as ETCD_NAME (upper case, '-' as '_'); a flag after the image name wins.

ARG BASE_IMAGE=debian:12-slim
FROM ${BASE_IMAGE}
# Lets docker/test.sh find and remove stale, untagged images of ours (and only those).
LABEL org.semaphored.stage=etcd \
      org.opencontainers.image.title="semaphored-etcd" \
      org.opencontainers.image.description="etcd (Debian 12's etcd-server) for semaphored"

ARG DEBIAN_FRONTEND=noninteractive
# The package's postinst would start etcd through its init script inside the build;
# policy-rc.d answering 101 ("not allowed") stops that, and goes once installed. The
# user `etcd` is made first with a fixed id (the postinst keeps an existing one), so
# that a volume's owner stays stable across images.
RUN printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d \
 && chmod 0755 /usr/sbin/policy-rc.d \
 && groupadd --system --gid 10002 etcd \
 && useradd --system --uid 10002 --gid etcd --home-dir /var/lib/etcd \
      --no-create-home --shell /usr/sbin/nologin etcd \
 && apt-get update \
 && apt-get install -y --no-install-recommends etcd-server \
 && apt-get clean \
 && rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin /usr/sbin/policy-rc.d \
 && install -d -o etcd -g etcd -m 0700 /var/lib/etcd \
 && etcd --version

# Listens on every interface of the container (clients on 2379, peers on 2380), plain
# HTTP: keep both ports on a private network, or give it TLS (ETCD_CERT_FILE, ...,
# ETCD_PEER_CERT_FILE, ...). The defaults make a single member named "default" (with
# etcd's own default peer URL, localhost, etcd would advertise the container's address
# instead and then refuse its own --initial-cluster).
# Compaction: semaphored writes a revision per change and reads only the latest, so
# history older than an hour is dropped (without this the database grows until etcd's
# 2 GiB quota stops every write); the space it frees is reused, `etcdctl defrag` gives
# it back to the file system.
ENV ETCD_DATA_DIR=/var/lib/etcd/data \
    ETCD_LISTEN_CLIENT_URLS=http://0.0.0.0:2379 \
    ETCD_ADVERTISE_CLIENT_URLS=http://127.0.0.1:2379 \
    ETCD_LISTEN_PEER_URLS=http://0.0.0.0:2380 \
    ETCD_INITIAL_ADVERTISE_PEER_URLS=http://127.0.0.1:2380 \
    ETCD_INITIAL_CLUSTER=default=http://127.0.0.1:2380 \
    ETCD_AUTO_COMPACTION_MODE=periodic \
    ETCD_AUTO_COMPACTION_RETENTION=1h \
    ETCD_LOGGER=zap
VOLUME ["/var/lib/etcd"]
WORKDIR /var/lib/etcd
USER 10002:10002
EXPOSE 2379 2380

# Healthy while etcd's own /health says so: the member sees a Raft leader and answers
# a read (bash's /dev/tcp: no HTTP client in the image).
HEALTHCHECK --interval=5s --timeout=4s --start-period=30s --retries=3 \
  CMD ["bash", "-c", "exec 3<>/dev/tcp/127.0.0.1/2379 && printf 'GET /health HTTP/1.0\\r\\n\\r\\n' >&3 && grep -q '\"health\":\"true\"' <&3"]

# SIGTERM (docker stop): etcd closes its database and exits.
STOPSIGNAL SIGTERM
ENTRYPOINT ["etcd"]
