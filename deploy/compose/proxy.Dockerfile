# The scaled profile's proxy: Debian's nginx (nginx-light) on the same base image as the service,
# so nothing is pulled from a registry but that base. Build from the repository root:
#   docker build -f deploy/compose/proxy.Dockerfile -t vae-serve-proxy .
# See docker-compose.scaled.yml and docs/deployment.md.
FROM python:3.11-slim
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends nginx-light \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --gid 10002 proxy-user \
    && useradd --uid 10002 --gid proxy-user --no-create-home --shell /usr/sbin/nologin proxy-user
COPY deploy/compose/nginx.conf /etc/nginx/nginx.conf
COPY deploy/compose/retries.conf /etc/nginx/vae-serve/retries.conf
USER 10002:10002
EXPOSE 8080
# python is in the base image: the health check needs no curl.
HEALTHCHECK --interval=5s --timeout=3s --start-period=5s --retries=3 \
    CMD ["python3", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8080/nginx-health', timeout=2)"]
ENTRYPOINT ["nginx", "-g", "daemon off;"]
