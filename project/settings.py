"""Surge settings: everything comes from the environment, with defaults that work locally.

`make run` / `make test` start local stores and write their URLs to `.devstack/stack.env`,
which is read here without overriding variables that are already set.
"""

import os
import ssl
from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured
from redis.backoff import NoBackoff
from redis.retry import Retry

from project import redisconn

BASE_DIR = Path(__file__).resolve().parent.parent

_stack_env = Path(os.environ.get("SURGE_DEVSTACK_DIR", BASE_DIR / ".devstack")) / "stack.env"
if _stack_env.exists():
    environ.Env.read_env(str(_stack_env), overwrite=False)

env = environ.Env()

# local | test | production
SURGE_ENV = env.str("SURGE_ENV", default="local")
PRODUCTION = SURGE_ENV == "production"

DEBUG = env.bool("DEBUG", default=not PRODUCTION)
if PRODUCTION:
    # A production secret has no default: fail loudly rather than sign sessions with a known key.
    if not os.environ.get("SECRET_KEY"):
        raise ImproperlyConfigured("SURGE_ENV=production requires SECRET_KEY")
    if DEBUG:
        raise ImproperlyConfigured("SURGE_ENV=production refuses DEBUG=true")
SECRET_KEY = env.str("SECRET_KEY", default="django-insecure-local-only-surge-key")
# Old keys still accepted for signatures (sessions, bearer tokens) while a new key rolls out.
SECRET_KEY_FALLBACKS = env.list("SECRET_KEY_FALLBACKS", default=[])
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "testserver", "[::1]"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])
# An API client that fails the check gets JSON, like every other API error.
CSRF_FAILURE_VIEW = "project.views.csrf_failure"

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",  # Swagger UI's files served from here: /api/docs/ needs no CDN
    "csp",
    "project",
    "usercenter",
    "signin",
    "orders",
    "redpackets",
    "staticgen",
]

MIDDLEWARE = [
    "project.metrics.RequestMetricsMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "csp.middleware.CSPMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "project.db_router.ReadYourWritesMiddleware",
    "project.api.DatabaseUnavailableMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "usercenter.auth.BearerTokenMiddleware",
    "usercenter.throttle.LoginThrottleMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "project.urls"
WSGI_APPLICATION = "project.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "project" / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "project.context_processors.site",
                "usercenter.context_processors.nav",
            ],
        },
    },
]

# ---------------------------------------------------------------- databases

DATABASE_URL = env.str("DATABASE_URL", default="postgres://postgres@127.0.0.1:25432/surge")
DATABASE_REPLICA_URL = env.str("DATABASE_REPLICA_URL", default=DATABASE_URL)
DB_CONN_MAX_AGE = env.int("DB_CONN_MAX_AGE", default=60)


def _db(url: str) -> dict:
    cfg = environ.Env.db_url_config(url)
    cfg["CONN_MAX_AGE"] = DB_CONN_MAX_AGE
    cfg["CONN_HEALTH_CHECKS"] = True
    # A dead store must fail fast so the router and the degraded modes can react. OPTIONS from the
    # URL's query (libpq's target_session_attrs for multi-host URLs, a connect_timeout) pass through.
    cfg.setdefault("OPTIONS", {}).setdefault("connect_timeout", env.int("DB_CONNECT_TIMEOUT", default=2))
    return cfg


DATABASES = {"default": _db(DATABASE_URL), "replica": _db(DATABASE_REPLICA_URL)}
# Tests run against one database; the real replication is exercised by integration tests.
DATABASES["replica"]["TEST"] = {"MIRROR": "default"}
DATABASE_ROUTERS = ["project.db_router.PrimaryReplicaRouter"]
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# Replica health: skip it when unreachable or lagging more than this many seconds.
REPLICA_MAX_LAG_SECONDS = env.float("REPLICA_MAX_LAG_SECONDS", default=5.0)
REPLICA_CHECK_INTERVAL_SECONDS = env.float("REPLICA_CHECK_INTERVAL_SECONDS", default=3.0)
# A user whose worker-written rows the replica has not replayed re-probes it this often at most.
REPLICA_LSN_RECHECK_SECONDS = env.float("REPLICA_LSN_RECHECK_SECONDS", default=0.25)
# After a write, the same client reads from the primary for this long.
READ_YOUR_WRITES_SECONDS = env.int("READ_YOUR_WRITES_SECONDS", default=5)

# ---------------------------------------------------------------- Redis, cache, sessions

REDIS_URL = env.str("REDIS_URL", default="redis://127.0.0.1:25439/0")
REDIS_SOCKET_TIMEOUT = env.float("REDIS_SOCKET_TIMEOUT", default=1.0)
# A connect on a LAN takes well under a millisecond: waiting longer only means the link is cut.
REDIS_SOCKET_CONNECT_TIMEOUT = env.float("REDIS_SOCKET_CONNECT_TIMEOUT", default=0.5)
# A server whose new connection timed out (link cut, process frozen) is not tried again by the
# same process for this long: its requests answer 503 (or read the DB) at once instead of each
# waiting out the timeouts (project/redisconn.py). 0 = always try.
REDIS_HUNG_HOLD_SECONDS = env.float("REDIS_HUNG_HOLD_SECONDS", default=2.0)
redisconn.HungServersFailFast.hold_seconds = REDIS_HUNG_HOLD_SECONDS
# A command that finds its connection dropped or timed out is sent again this many times, at
# once, on a new connection (in Sentinel mode: to the master the sentinels name now), then the
# caller answers 503 or falls back to the DB. redis-py's default (three retries with exponential
# backoff, ~10 s) made a stopped master cost every request seconds in the Sentinel drill.
REDIS_RETRIES = env.int("REDIS_RETRIES", default=1)
# TLS: a rediss:// REDIS_URL (single node) is spoken over TLS by every client (cache, hot paths,
# sessions, the Celery broker), checking the server's certificate against this CA file (unset:
# the system's CAs).
REDIS_TLS = REDIS_URL.startswith("rediss://")
REDIS_SSL_CA_CERTS = env.str("REDIS_SSL_CA_CERTS", default="") or None
# Sentinel mode: with sentinels named ("host:port,host:port,..."), every client (cache, hot paths,
# queues, sessions, the Celery broker) asks them where the master of REDIS_SENTINEL_MASTER is,
# and follows a failover by itself. REDIS_URL then only gives the database number.
REDIS_SENTINELS = [
    (h, int(p)) for h, _, p in (s.strip().rpartition(":") for s in env.list("REDIS_SENTINELS", default=[]))
]
REDIS_SENTINEL_MASTER = env.str("REDIS_SENTINEL_MASTER", default="surge")
# Cluster mode: with cluster nodes named ("host:port,..."; any few of them, the rest is found),
# the data plane (Lua scripts, queues, user hashes, bitmaps, caches, sessions) lives on a Redis
# Cluster through redis-py's RedisCluster (project/redis_cluster.py). Celery cannot use a cluster
# (kombu has no cluster transport, kombu#526): its broker is a Redis of its own, REDIS_BROKER_URL,
# or a Sentinel group when REDIS_SENTINELS are named too (they then serve the broker alone).
# Only database 0 exists on a cluster.
REDIS_CLUSTER_NODES = env.list("REDIS_CLUSTER_NODES", default=[])
REDIS_BROKER_URL = env.str("REDIS_BROKER_URL", default=REDIS_URL)
# A grab or flash buy is answered 200/202 only once this many replicas have its write (Redis's
# WAIT, in the same round trip), so a failover cannot lose an acknowledged one; waiting longer
# than REDIS_WAIT_TIMEOUT_MS answers 503 (the retry then says 409: already grabbed). 0 = off,
# the default for a single node; 1 when sentinels or cluster nodes are named (on a cluster the WAIT
# goes to the master of the grab's slot).
REDIS_WAIT_REPLICAS = env.int("REDIS_WAIT_REPLICAS", default=1 if REDIS_SENTINELS or REDIS_CLUSTER_NODES else 0)
REDIS_WAIT_TIMEOUT_MS = env.int("REDIS_WAIT_TIMEOUT_MS", default=100)


def redis_db(url: str) -> int:
    tail = url.rsplit("/", 1)[-1] if url.count("/") >= 3 else ""
    return int(tail) if tail.isdigit() else 0


def redis_locations(db: int) -> tuple[str, str]:
    """(the cache's LOCATION, the Celery broker URL) for Redis database `db` in this mode."""
    sentinel_broker = ";".join(f"sentinel://{h}:{p}/{db}" for h, p in REDIS_SENTINELS)
    if REDIS_CLUSTER_NODES:
        # The cache's LOCATION only names the first node (the client class takes STARTUP_NODES);
        # the database number then applies to the broker alone.
        broker = REDIS_BROKER_URL.rsplit("/", 1)[0] if REDIS_BROKER_URL.count("/") >= 3 else REDIS_BROKER_URL
        return f"redis://{REDIS_CLUSTER_NODES[0]}/0", sentinel_broker or f"{broker}/{db}"
    if REDIS_SENTINELS:
        return f"redis://{REDIS_SENTINEL_MASTER}/{db}", sentinel_broker
    base = REDIS_URL.rsplit("/", 1)[0] if REDIS_URL.count("/") >= 3 else REDIS_URL
    return f"{base}/{db}", f"{base}/{db}"


CACHES = {
    "default": {
        "BACKEND": "django_redis.cache.RedisCache",
        "LOCATION": REDIS_URL,
        "TIMEOUT": 300,
        "KEY_PREFIX": "c",
        "OPTIONS": {
            "CLIENT_CLASS": "django_redis.client.DefaultClient",
            # redis-py's client counting the commands it sends (requests report them).
            "REDIS_CLIENT_CLASS": "project.counters.CountingRedis",
            "SOCKET_CONNECT_TIMEOUT": REDIS_SOCKET_CONNECT_TIMEOUT,
            "SOCKET_TIMEOUT": REDIS_SOCKET_TIMEOUT,
            "CONNECTION_POOL_KWARGS": {
                "max_connections": 200,
                # A connection idle this long is PINGed before use, so one a restart or an idle
                # timeout closed is replaced before a request's command finds it closed.
                "health_check_interval": 30,
                "retry": Retry(NoBackoff(), REDIS_RETRIES),
                # NOREPLICAS (a master refusing writes) is a connection error, not an error reply.
                "connection_class": redisconn.SSLConnection if REDIS_TLS else redisconn.Connection,
                **({"ssl_ca_certs": REDIS_SSL_CA_CERTS} if REDIS_TLS and REDIS_SSL_CA_CERTS else {}),
            },
        },
    },
}
if REDIS_SENTINELS and not REDIS_CLUSTER_NODES:
    DJANGO_REDIS_CONNECTION_FACTORY = "django_redis.pool.SentinelConnectionFactory"
    CACHES["default"]["LOCATION"] = redis_locations(redis_db(REDIS_URL))[0]
    CACHES["default"]["OPTIONS"].update(
        CLIENT_CLASS="django_redis.client.SentinelClient",
        SENTINELS=REDIS_SENTINELS,
        # Each sentinel is asked once: one that does not answer is skipped for the next.
        SENTINEL_KWARGS={
            "socket_timeout": REDIS_SOCKET_TIMEOUT,
            "socket_connect_timeout": REDIS_SOCKET_CONNECT_TIMEOUT,
            "retry": Retry(NoBackoff(), 0),
        },
    )
    CACHES["default"]["OPTIONS"]["CONNECTION_POOL_KWARGS"]["connection_class"] = redisconn.SentinelManagedConnection
if REDIS_CLUSTER_NODES:
    # django-redis has no cluster client: a small one over redis-py's RedisCluster (why: there).
    CACHES["default"]["LOCATION"] = redis_locations(0)[0]
    CACHES["default"]["OPTIONS"].update(
        CLIENT_CLASS="project.redis_cluster.ClusterClient", STARTUP_NODES=REDIS_CLUSTER_NODES
    )
# Sessions: Redis first, the DB behind it, so a Redis outage logs nobody out.
SESSION_ENGINE = "project.sessions"
SESSION_COOKIE_AGE = 14 * 24 * 3600

AUTHENTICATION_BACKENDS = ["usercenter.auth.CachedUserBackend"]
AUTH_USER_CACHE_SECONDS = env.int("AUTH_USER_CACHE_SECONDS", default=3600)
# Bearer tokens are signed (SECRET_KEY, with SECRET_KEY_FALLBACKS for rotation) and expire after
# API_TOKEN_MAX_AGE_SECONDS; a request verifies the signature in-process, with no lookup. Revoked
# tokens are listed in Redis, and each process re-reads that list's version at most every
# AUTH_REVOCATION_CHECK_SECONDS: the longest another process may still accept a revoked token.
API_TOKEN_MAX_AGE_SECONDS = env.int("API_TOKEN_MAX_AGE_SECONDS", default=30 * 24 * 3600)
AUTH_REVOCATION_CHECK_SECONDS = env.float("AUTH_REVOCATION_CHECK_SECONDS", default=1.0)
# Process-local copies of users (session requests, and token requests whose view needs more than
# the user id): a deactivated user is noticed by other processes this many seconds late.
AUTH_LOCAL_CACHE_SECONDS = env.float("AUTH_LOCAL_CACHE_SECONDS", default=5)
LOGIN_URL = "/login/"
LOGIN_REDIRECT_URL = "/"
LOGOUT_REDIRECT_URL = "/"

# Log-ins and sign-ups hash a password (~230 ms of CPU each): counted per client IP and per
# username, over the limit answered 429 (usercenter/throttle.py). django-ratelimit rates.
LOGIN_RATE_PER_IP = env.str("LOGIN_RATE_PER_IP", default="30/m")
LOGIN_RATE_PER_USERNAME = env.str("LOGIN_RATE_PER_USERNAME", default="10/m")
REGISTER_RATE_PER_IP = env.str("REGISTER_RATE_PER_IP", default="20/h")
RATELIMIT_USE_CACHE = "default"
# The client's IP: behind the load balancer REMOTE_ADDR is nginx, which sends the client's address
# as X-Real-IP (deploy/nginx/surge.conf); app servers are reachable only through it.
THROTTLE_TRUST_X_REAL_IP = env.bool("THROTTLE_TRUST_X_REAL_IP", default=PRODUCTION)
RATELIMIT_IP_META_KEY = "usercenter.throttle.client_ip"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 8}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

# ---------------------------------------------------------------- Celery

CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default=redis_locations(redis_db(REDIS_URL))[1])
CELERY_RESULT_BACKEND = None
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_RESULT_SERIALIZER = "json"
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_TIME_LIMIT = 120
CELERY_TASK_SOFT_TIME_LIMIT = 100
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# Short socket timeouts and health checks: a broker whose host was cut off (not only killed) is
# left within seconds, where kombu's defaults wait minutes (celery#6348). Retry forever: the
# worker outlives a Redis outage of any length.
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "visibility_timeout": 300,
    "socket_timeout": 5,
    "socket_connect_timeout": 2,
    "health_check_interval": 10,
    "retry_on_timeout": True,
}
# kombu's transports with the project's fixes (project.broker): a failed ack does not stop the
# worker consuming; NOREPLICAS from a master cut off from its replicas makes it reconnect.
if CELERY_BROKER_URL.startswith("sentinel://"):
    CELERY_BROKER_TRANSPORT = "project.broker:SentinelTransport"
elif CELERY_BROKER_URL.startswith(("redis://", "rediss://")):
    CELERY_BROKER_TRANSPORT = "project.broker:Transport"
if CELERY_BROKER_URL.startswith("rediss://"):
    CELERY_BROKER_USE_SSL = {"ssl_cert_reqs": ssl.CERT_REQUIRED, "ssl_ca_certs": REDIS_SSL_CA_CERTS}
if REDIS_SENTINELS:
    CELERY_BROKER_TRANSPORT_OPTIONS.update(
        master_name=REDIS_SENTINEL_MASTER,
        sentinel_kwargs={"socket_timeout": REDIS_SOCKET_TIMEOUT, "socket_connect_timeout": REDIS_SOCKET_TIMEOUT},
    )
# The same bounds for a Redis result backend, should one be configured (CELERY_RESULT_BACKEND):
# it ignores the broker's transport options, and its socket timeout defaults to 120 s.
CELERY_REDIS_SOCKET_TIMEOUT = CELERY_BROKER_TRANSPORT_OPTIONS["socket_timeout"]
CELERY_REDIS_SOCKET_CONNECT_TIMEOUT = CELERY_BROKER_TRANSPORT_OPTIONS["socket_connect_timeout"]
CELERY_REDIS_BACKEND_HEALTH_CHECK_INTERVAL = CELERY_BROKER_TRANSPORT_OPTIONS["health_check_interval"]
CELERY_REDIS_RETRY_ON_TIMEOUT = True
CELERY_RESULT_BACKEND_TRANSPORT_OPTIONS = (
    {"master_name": REDIS_SENTINEL_MASTER, "sentinel_kwargs": CELERY_BROKER_TRANSPORT_OPTIONS["sentinel_kwargs"]}
    if REDIS_SENTINELS
    else {}
)
CELERY_BROKER_CONNECTION_MAX_RETRIES = None
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
CELERY_BEAT_SCHEDULE: dict = {}  # filled by project.celery from each app's BEAT_SCHEDULE
# Two beats may run (one per host): the one holding the Redis lock sends, the other takes over
# within BEAT_LOCK_SECONDS of its death (project/beat.py).
CELERY_BEAT_SCHEDULER = "project.beat:LockedScheduler"
BEAT_LOCK_SECONDS = env.float("BEAT_LOCK_SECONDS", default=6.0)

# Reliable queue: how many events a consumer takes per batch, and how long a consumer may be
# silent before the reaper hands its batch to another.
QUEUE_BATCH_SIZE = env.int("QUEUE_BATCH_SIZE", default=500)
QUEUE_CONSUMER_TTL_SECONDS = env.int("QUEUE_CONSUMER_TTL_SECONDS", default=30)
# During a storm the drain waits this long after a batch smaller than QUEUE_BATCH_SIZE before
# taking the next, so batches grow with the event rate (each batch has a fixed cost) and the
# drain takes less CPU from the web tier during a storm. Rows land up to that much later; the
# answer was given long before. 0 = off.
QUEUE_LINGER_MS = env.int("QUEUE_LINGER_MS", default=300)

# ---------------------------------------------------------------- REST framework

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "usercenter.auth.BearerTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "project.api.exception_handler",
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Surge API",
    "VERSION": "1.0.0",
    "DESCRIPTION": "Sign in with POST /api/auth/login/ and send `Authorization: Bearer <token>`.",
    "SERVE_INCLUDE_SCHEMA": False,
    # Request bodies get their own components, with what input validation really requires
    # (a required text field is non-blank: minLength 1).
    "COMPONENT_SPLIT_REQUEST": True,
    # The hot paths are plain Django views; project/schema.py describes them (DRF never runs them).
    "PREPROCESSING_HOOKS": ["project.schema.add_function_views"],
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "project.schema.add_common_responses",
    ],
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
}

# ---------------------------------------------------------------- i18n, time

LANGUAGE_CODE = "en-us"
USE_I18N = False
USE_TZ = True
# The site's day (sign-in, daily limits) is in this zone, not UTC by accident.
TIME_ZONE = env.str("SITE_TIME_ZONE", default="Asia/Shanghai")

# ---------------------------------------------------------------- static files, CDN bucket

STATIC_URL = "/static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "project" / "static"]
MEDIA_URL = "/media/"
MEDIA_ROOT = Path(env.str("MEDIA_ROOT", default=str(BASE_DIR / "media")))

CDN_ROOT = Path(env.str("CDN_ROOT", default=str(BASE_DIR / "cdn")))
CDN_URL = env.str("CDN_URL", default="/cdn/")
CDN_BUCKET = env.str("CDN_BUCKET", default="")

STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
    "cdn": {
        "BACKEND": "django.core.files.storage.FileSystemStorage",
        "OPTIONS": {"location": str(CDN_ROOT), "base_url": CDN_URL},
    },
}
if CDN_BUCKET:
    STORAGES["cdn"] = {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {
            "bucket_name": CDN_BUCKET,
            "endpoint_url": env.str("CDN_ENDPOINT_URL", default="") or None,
            "access_key": env.str("CDN_ACCESS_KEY_ID", default="") or None,
            "secret_key": env.str("CDN_SECRET_ACCESS_KEY", default="") or None,
            "region_name": env.str("CDN_REGION", default="us-east-1"),
            "custom_domain": env.str("CDN_CUSTOM_DOMAIN", default="") or None,
            "default_acl": env.str("CDN_DEFAULT_ACL", default="public-read") or None,
            "querystring_auth": False,
            "file_overwrite": True,
        },
    }
WHITENOISE_MAX_AGE = 3600

# ---------------------------------------------------------------- security (production)

if PRODUCTION:
    SESSION_COOKIE_SECURE = env.bool("SESSION_COOKIE_SECURE", default=True)
    CSRF_COOKIE_SECURE = env.bool("CSRF_COOKIE_SECURE", default=True)
    # TLS ends at the load balancer (nginx), which says the browser's scheme in this header; it
    # must overwrite whatever the client sent (deploy/nginx/surge.conf does).
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_CONTENT_TYPE_NOSNIFF = True
    SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=True)
    # Probes and Prometheus reach the app servers over plain HTTP on the private network.
    SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$", r"^metrics$"]
    SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=365 * 24 * 3600)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", default=True)
    SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=False)
    if not SECURE_HSTS_PRELOAD:
        # Preloading is a submission to the browsers' lists, decided per domain, not a default.
        SILENCED_SYSTEM_CHECKS = ["security.W021"]

# A Content-Security-Policy every page works under (the browser tests run with it): scripts and
# connections only from this site (and the CDN's origin when it has one), no inline script, no
# plugins, no framing. Inline style attributes stay allowed: the admin's templates use them.
_cdn_origin = "/".join(CDN_URL.split("/")[:3]) if CDN_URL.startswith(("http://", "https://")) else None
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'", "'unsafe-inline'"],
        "img-src": ["'self'", "data:", "https:"],
        "font-src": ["'self'", "data:"],
        "connect-src": ["'self'", *([_cdn_origin] if _cdn_origin else [])],
        "object-src": ["'none'"],
        "base-uri": ["'self'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
    }
}

# ---------------------------------------------------------------- logging

LOG_LEVEL = env.str("LOG_LEVEL", default="INFO")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "filters": {"beat_due_tasks": {"()": "project.logfilters.BeatDueTaskFilter"}},
    "handlers": {
        "console": {"class": "logging.StreamHandler", "formatter": "plain"},
        # The newest errors of every process, for the admin control room's "last errors".
        "controlroom": {"class": "project.controlroom.errors.RecentErrorsHandler", "level": "ERROR"},
    },
    "root": {"handlers": ["console", "controlroom"], "level": LOG_LEVEL},
    "loggers": {
        "django.db.backends": {"level": "WARNING"},
        "django.request": {"level": "ERROR"},
        # The queue drain runs every second; one line per run would drown the worker's log.
        "celery.app.trace": {"level": "WARNING"},
        "celery.worker.strategy": {"level": "WARNING"},
        # Beat sends the drain every second and the 5 s jobs; a line for each hides the rest.
        "celery.beat": {"filters": ["beat_due_tasks"]},
    },
}

SITE_NAME = "Surge"

# ---------------------------------------------------------------- apps

# Sign-in: points = base + step * min(streak - 1, cap); bitmaps and state live this long.
SIGNIN_BASE_POINTS = env.int("SIGNIN_BASE_POINTS", default=10)
SIGNIN_STREAK_STEP_POINTS = env.int("SIGNIN_STREAK_STEP_POINTS", default=5)
SIGNIN_STREAK_STEP_CAP = env.int("SIGNIN_STREAK_STEP_CAP", default=6)
SIGNIN_BITMAP_TTL_SECONDS = env.int("SIGNIN_BITMAP_TTL_SECONDS", default=62 * 24 * 3600)
SIGNIN_STATE_TTL_SECONDS = env.int("SIGNIN_STATE_TTL_SECONDS", default=7 * 24 * 3600)
SIGNIN_REPAIR_SECONDS = env.int("SIGNIN_REPAIR_SECONDS", default=30)

# User center: the per-user hash's life; the home document's L1 / soft / hard TTLs and how
# long admin edits are gathered into one rebuild.
USER_HASH_TTL_SECONDS = env.int("USER_HASH_TTL_SECONDS", default=3600)
HOME_L1_SECONDS = env.float("HOME_L1_SECONDS", default=3)
HOME_SOFT_SECONDS = env.int("HOME_SOFT_SECONDS", default=30)
HOME_HARD_SECONDS = env.int("HOME_HARD_SECONDS", default=3600)
HOME_REBUILD_DEBOUNCE_SECONDS = env.int("HOME_REBUILD_DEBOUNCE_SECONDS", default=5)

# Static generation: how long changes gather into one republish; the site URL in sitemap.xml;
# the Host header renders use (default: the first of ALLOWED_HOSTS).
STATICGEN_DEBOUNCE_SECONDS = env.float("STATICGEN_DEBOUNCE_SECONDS", default=2.0)
STATICGEN_SITE_URL = env.str("STATICGEN_SITE_URL", default="http://localhost:8000")
STATICGEN_RENDER_HOST = env.str("STATICGEN_RENDER_HOST", default="")
# Cache-Control per content type ("application/json": "..."), over staticgen.registry's defaults.
STATICGEN_CACHE_CONTROL: dict[str, str] = {}

# Red packets: grab attempts per user per packet per window (0 = off); how long a finished
# campaign's Redis keys linger; the largest campaign an operator may create.
REDPACKETS_GRAB_RATE_LIMIT = env.int("REDPACKETS_GRAB_RATE_LIMIT", default=10)
REDPACKETS_GRAB_RATE_WINDOW_MS = env.int("REDPACKETS_GRAB_RATE_WINDOW_MS", default=1000)
REDPACKETS_KEYS_GRACE_SECONDS = env.int("REDPACKETS_KEYS_GRACE_SECONDS", default=7 * 86400)
REDPACKETS_MAX_COUNT = env.int("REDPACKETS_MAX_COUNT", default=100_000)
REDPACKETS_MAX_TOTAL_CENTS = env.int("REDPACKETS_MAX_TOTAL_CENTS", default=10**12)

# Orders: page-1 cache life; how long a process trusts its own "sold out" flag before asking
# Redis again (a re-opened sale is seen everywhere within this); how early a due flash sale's
# stock is loaded; how long a closed sale's keys linger for late polls.
ORDERS_PAGE1_TTL_SECONDS = env.int("ORDERS_PAGE1_TTL_SECONDS", default=600)
ORDERS_SOLD_OUT_FLAG_SECONDS = env.float("ORDERS_SOLD_OUT_FLAG_SECONDS", default=3.0)
ORDERS_FLASH_PRELOAD_SECONDS = env.int("ORDERS_FLASH_PRELOAD_SECONDS", default=300)
ORDERS_FLASH_KEYS_GRACE_SECONDS = env.int("ORDERS_FLASH_KEYS_GRACE_SECONDS", default=86400)

# Control room (admin): how old its shared snapshot may get; Alertmanager and Patroni to ask.
CONTROLROOM_REFRESH_SECONDS = env.float("CONTROLROOM_REFRESH_SECONDS", default=2.0)
ALERTMANAGER_URL = env.str("ALERTMANAGER_URL", default="")
PATRONI_URLS = env.list("PATRONI_URLS", default=[])

# Set (deploy/ and the gunicorn config do) when several processes share one /metrics: each
# writes its counters to files there and a scrape sums them.
PROMETHEUS_MULTIPROC_DIR = env.str("PROMETHEUS_MULTIPROC_DIR", default="")
# The Celery worker serves its pool's metrics on this port (0: not at all) and address; on a
# worker host of its own the monitoring host must reach it, so its private address there.
WORKER_METRICS_PORT = env.int("WORKER_METRICS_PORT", default=0)
WORKER_METRICS_ADDR = env.str("WORKER_METRICS_ADDR", default="127.0.0.1")

# Backups (`manage.py backup`): how this host runs pgBackRest (it must reach the repository and,
# for create/verify, the database host), and the stanza naming the cluster in the repository.
PGBACKREST_COMMAND = env.str("PGBACKREST_COMMAND", default="pgbackrest")
PGBACKREST_STANZA = env.str("PGBACKREST_STANZA", default="surge")
