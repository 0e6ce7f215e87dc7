# One image for the API server and the workers.
FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY tenantflow ./tenantflow
COPY migrations ./migrations
COPY examples ./examples
RUN pip install --no-cache-dir .
ENV TENANTFLOW_DATA_DIR=/data \
    MALLOC_ARENA_MAX=2
VOLUME ["/data"]
EXPOSE 8080
CMD ["tenantflow", "serve", "--host", "0.0.0.0", "--port", "8080"]
