# Build and run Eider on Debian. The embedded store lives in /data.
# The API stays on loopback unless you set EIDER_API__HOST together with
# EIDER_API__ACCESSCONTROL__ENABLED=true and EIDER_API__ACCESSCONTROL__SECRET.
FROM rust:1-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked --bin eider

FROM debian:bookworm-slim
COPY --from=build /src/target/release/eider /usr/local/bin/eider
VOLUME /data
WORKDIR /
EXPOSE 8080 9993 9995 2424
ENV EIDER_STORAGE__PATH=/data \
    EIDER_IMAP__HOST=0.0.0.0 EIDER_POP3__HOST=0.0.0.0 EIDER_LMTP__HOST=0.0.0.0
ENTRYPOINT ["/usr/local/bin/eider"]
CMD ["serve"]
