#!/bin/sh
# The Surge image's entrypoint: one image, every role (deploy/compose.yaml picks one per service).
#   web                    gunicorn (deploy/gunicorn.conf.py) on $GUNICORN_BIND (0.0.0.0:8000)
#   worker                 Celery worker (drains the reliable queues)
#   beat                   Celery beat (run exactly one)
#   release                migrate, then collectstatic into the shared static volume (one-shot)
#   manage ARGS...         any manage.py command, e.g. `manage redpackets status 7`
#   anything else          run as given
set -eu
cd /opt/surge/app

case "${1:-web}" in
  web)
    shift || true
    # gunicorn clears this directory at start (deploy/gunicorn.conf.py on_starting).
    mkdir -p "${PROMETHEUS_MULTIPROC_DIR:=/tmp/surge-metrics}"
    export PROMETHEUS_MULTIPROC_DIR
    exec gunicorn -c deploy/gunicorn.conf.py "$@" project.wsgi
    ;;
  worker)
    shift
    export PROMETHEUS_MULTIPROC_DIR="${PROMETHEUS_MULTIPROC_DIR:-/tmp/surge-worker-metrics}"
    rm -rf "$PROMETHEUS_MULTIPROC_DIR" && mkdir -p "$PROMETHEUS_MULTIPROC_DIR"
    exec celery -A project worker --loglevel="${CELERY_LOGLEVEL:-INFO}" --concurrency="${CELERY_CONCURRENCY:-2}" \
      --without-gossip --without-mingle --hostname="worker@$(hostname)" "$@"
    ;;
  beat)
    shift
    exec celery -A project beat --loglevel="${CELERY_LOGLEVEL:-INFO}" --schedule /tmp/celerybeat-schedule "$@"
    ;;
  release)
    python manage.py migrate --noinput
    python manage.py collectstatic --noinput -v 0
    echo "release: migrated and collected static files"
    ;;
  manage)
    shift
    exec python manage.py "$@"
    ;;
  *)
    exec "$@"
    ;;
esac
