# vae-serve images. Always name the target:
#   docker build --target runtime -t vae-serve .                      # serving: ONNX Runtime, no torch
#   docker build --target train -t vae-serve-train .                  # training: torch, CPU build
#   docker build --target train --build-arg TORCH_VARIANT=cu128 -t vae-serve-train:cu128 .
# `runtime` comes before `train` because the classic builder builds every stage up to its target.
# Dependencies are pinned: requirements/runtime.txt (serving) and requirements/constraints.txt
# (training) are pip constraints over what pyproject.toml declares. See docs/deployment.md.

# ---------------------------------------------------------------------------------------- base
FROM python:3.11-slim AS base
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_ROOT_USER_ACTION=ignore
# One unprivileged account (uid 10001) for both targets, so bundles the trainer writes into a shared
# models volume belong to the uid the service runs as.
RUN groupadd --gid 10001 app \
    && useradd --uid 10001 --gid app --home-dir /home/app --create-home --shell /usr/sbin/nologin app

# ----------------------------------------------------------------------------------- wheel
# The project as a wheel: installed, not copied, because the bundle manifest records the installed
# `vae-serve` version.
FROM base AS wheel
WORKDIR /src
COPY pyproject.toml ./
COPY vae_core/ vae_core/
COPY service/ service/
COPY training/ training/
COPY vae_client/ vae_client/
COPY vae_serve/ vae_serve/
RUN pip wheel --no-deps --wheel-dir /dist .

# ------------------------------------------------------------------------------ runtime-venv
# Exactly the serving dependencies pyproject.toml declares, at the versions runtime.txt pins. The
# layer depends on those two files only, so a code change rebuilds nothing but the wheel's step.
# pip and setuptools leave afterwards: nothing installs at run time.
FROM base AS runtime-venv
COPY pyproject.toml requirements/runtime.txt /src/
RUN python -c "import tomllib; print(*tomllib.load(open('/src/pyproject.toml', 'rb'))['project']['dependencies'], sep='\n')" \
        > /src/requirements.in \
    && python -m venv /opt/venv \
    && /opt/venv/bin/pip install --constraint /src/runtime.txt --requirement /src/requirements.in
COPY --from=wheel /dist/ /dist/
RUN /opt/venv/bin/pip install --no-deps /dist/*.whl \
    && /opt/venv/bin/pip check \
    && if /opt/venv/bin/python -c "import torch" 2>/dev/null; then echo "torch in runtime" >&2; exit 1; fi \
    && /opt/venv/bin/python -m pip uninstall --yes --quiet pip setuptools

# ----------------------------------------------------------------------------------- runtime
FROM base AS runtime
COPY --from=runtime-venv /opt/venv /opt/venv
WORKDIR /app
# The shipped bundles. Mount a volume on /app/models to replace them (a new named volume is seeded
# from here).
COPY --chown=10001:10001 models/ /app/models/
# Custom attribute vectors: the only thing the service writes. With /tmp, the only writable path, so
# the container runs with a read-only root filesystem.
RUN install -d -o 10001 -g 10001 -m 0750 /app/data
VOLUME ["/app/data"]
ENV PATH=/opt/venv/bin:$PATH \
    VAE_SERVE_HOST=0.0.0.0 \
    VAE_SERVE_PORT=8000 \
    VAE_SERVE_MODEL_DIR=/app/models \
    VAE_SERVE_DATA_DIR=/app/data
USER 10001:10001
EXPOSE 8000
# The slim image has no curl; urlopen raises (exit 1) on a refused connection or a non-2xx status.
HEALTHCHECK --interval=10s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/readyz' % os.environ.get('VAE_SERVE_PORT', '8000'), timeout=4)"]
ENTRYPOINT ["python", "-m", "service"]

# ------------------------------------------------------------------------------------- train
# PyPI's Linux torch is the CUDA build (several GB). The CPU build, or another CUDA version, comes
# from the PyTorch index: torch alone and without fallback (--index-url, --no-deps), so an
# unreachable index fails the build instead of silently pulling PyPI's CUDA build. Its dependencies
# and everything else then resolve from PyPI at their pinned versions.
FROM base AS train
ARG TORCH_VARIANT=cpu
ARG TORCH_INDEX_URL=https://download.pytorch.org/whl/${TORCH_VARIANT}
COPY pyproject.toml requirements/constraints.txt /src/
RUN python -c "import tomllib; p = tomllib.load(open('/src/pyproject.toml', 'rb'))['project']; print(*p['dependencies'], *p['optional-dependencies']['train'], sep='\n')" \
        > /src/requirements.in \
    && python -m venv /opt/venv \
    && /opt/venv/bin/pip install --index-url "${TORCH_INDEX_URL}" --no-deps \
        --constraint /src/constraints.txt torch \
    && /opt/venv/bin/pip install --constraint /src/constraints.txt --requirement /src/requirements.in
COPY --from=wheel /dist/ /dist/
RUN /opt/venv/bin/pip install --no-deps /dist/*.whl && /opt/venv/bin/pip check
WORKDIR /app
# models/ and runs/ are the training CLI's default output folders: mount volumes on them; cache/
# holds the decoded images of a folder dataset (--dataset folder).
RUN install -d -o 10001 -g 10001 /app/models /app/runs /app/cache
ENV PATH=/opt/venv/bin:$PATH
USER 10001:10001
ENTRYPOINT ["python", "-m", "training"]
CMD ["--help"]
