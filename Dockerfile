# One image for the threads server and the worker; docker-compose.yml picks the command.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
WORKDIR /app

COPY pyproject.toml README.md ./
COPY threads_client ./threads_client
COPY threads_server ./threads_server
COPY workflows ./workflows
COPY activities ./activities
COPY starter ./starter
COPY worker.py ./
RUN pip install --no-cache-dir . && useradd --create-home threadloom && mkdir /data && chown threadloom /data

USER threadloom
EXPOSE 8700
CMD ["threadloom", "worker"]
