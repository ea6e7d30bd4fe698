# One image for the worker and the gateway: `python worker.py` or `python -m gateway`.
FROM python:3.11-slim

ENV PYTHONUNBUFFERED=1 \
    UV_PROJECT_ENVIRONMENT=/app/.venv \
    PATH=/app/.venv/bin:$PATH
WORKDIR /app

RUN pip install --no-cache-dir uv
COPY pyproject.toml uv.lock README.md ./
COPY switchboard ./switchboard
COPY workflows ./workflows
COPY activities ./activities
COPY gateway ./gateway
COPY examples ./examples
COPY worker.py ./
RUN uv sync --frozen --no-dev

RUN useradd --create-home switchboard && mkdir -p /app/.data && chown switchboard /app/.data
USER switchboard
EXPOSE 8000
CMD ["python", "worker.py"]
