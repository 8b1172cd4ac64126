# One image for the threads server and the worker; docker-compose.yml picks the command.
# The image installs the wheel built from the project, so it holds exactly what `pip install threadloom`
# installs (tests/test_image_files.py installs the same wheel into a fresh venv and runs every command).
FROM python:3.11-slim AS build
WORKDIR /src
COPY . .
RUN pip wheel --no-cache-dir --no-deps --wheel-dir /wheels .

FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
COPY --from=build /wheels /wheels
RUN pip install --no-cache-dir /wheels/*.whl && rm -rf /wheels \
    && useradd --create-home threadloom && mkdir /data && chown threadloom /data
USER threadloom
WORKDIR /home/threadloom
EXPOSE 8700
CMD ["threadloom", "worker"]
