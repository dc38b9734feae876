FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
WORKDIR /app
COPY pyproject.toml README.md ./
COPY ewallet ewallet
COPY settlement settlement
COPY wallets wallets
COPY manage.py ./
RUN pip install --no-cache-dir . && python manage.py collectstatic --noinput -v 0
RUN useradd --create-home ewallet && mkdir /keys && chown ewallet /keys
USER ewallet
EXPOSE 8000
CMD ["gunicorn", "ewallet.wsgi", "--bind", "0.0.0.0:8000", "--workers", "3"]
