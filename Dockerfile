FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 MES_VAR_DIR=/var/lib/labmes
WORKDIR /app
COPY pyproject.toml constraints.txt README.md ./
COPY mes ./mes
COPY events ./events
COPY machines ./machines
COPY drivers ./drivers
COPY simulator ./simulator
COPY plugins ./plugins
COPY materials ./materials
COPY policies ./policies
COPY maintenance ./maintenance
COPY jobs ./jobs
COPY federation ./federation
COPY opcua ./opcua
COPY webhooks ./webhooks
COPY notifications ./notifications
COPY metrics ./metrics
RUN pip install --no-cache-dir -c constraints.txt .
COPY . .
# Volumes mounted here (media, federation keys) take this ownership on first use.
RUN useradd --system --home /var/lib/labmes labmes \
    && mkdir -p /var/lib/labmes/media /var/lib/labmes/federation \
    && chown -R labmes /var/lib/labmes && chmod 700 /var/lib/labmes/federation
USER labmes
EXPOSE 8000
CMD ["gunicorn", "mes.wsgi:application", "--bind", "0.0.0.0:8000", "--workers", "3", "--threads", "4"]
