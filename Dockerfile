# Dockerfile - profgate's container image: built on debian:bookworm, run on
# debian:bookworm-slim as the non-root user profgate (uid and gid 10001).
#
#   docker build -t registry.example.com/profgate:0.1.0 \
#     --build-arg PG_GIT_REVISION="$(git rev-parse HEAD)" \
#     --build-arg SOURCE_DATE_EPOCH="$(git log -1 --format=%ct)" .
#   docker run --rm -p 4100:4100 -v profgate-data:/var/lib/profgate \
#     registry.example.com/profgate:0.1.0
#
# The image runs `profgate run /etc/profgate/profgate.yml --web.listen-address=0.0.0.0:4100`
# on the default config (scrapes nothing; mount your own over /etc/profgate/profgate.yml).
# Every build and install step is a script in scripts/container/, which CI runs outside a
# container engine (tests/packaging/container.sh), so this recipe cannot rot unnoticed.
# docs/install.md has the details.

FROM debian:bookworm AS build
COPY scripts/container/build-deps.sh /tmp/build-deps.sh
RUN bash /tmp/build-deps.sh
COPY . /src
# .dockerignore leaves .git out: pass the revision `profgate version` reports, and the
# commit time as the build date for a reproducible binary
ARG PG_GIT_REVISION=
ARG SOURCE_DATE_EPOCH=
RUN bash /src/scripts/container/build.sh /src /build /stage

FROM debian:bookworm-slim
COPY --from=build /stage /stage
RUN bash /stage/install.sh /stage / && rm -rf /stage
USER 10001:10001
WORKDIR /var/lib/profgate
EXPOSE 4100
VOLUME /var/lib/profgate
ENTRYPOINT ["/usr/bin/profgate"]
CMD ["run", "/etc/profgate/profgate.yml", "--web.listen-address=0.0.0.0:4100"]
