from django.conf import settings
from django.contrib import admin
from django.urls import include, path, re_path
from django.views.static import serve
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from orders import urls as orders_urls
from project import health
from redpackets import urls as redpackets_urls
from signin import urls as signin_urls
from staticgen import urls as staticgen_urls
from usercenter import urls as usercenter_urls

APPS = (usercenter_urls, signin_urls, orders_urls, redpackets_urls, staticgen_urls)

# Django tries URL patterns in order, one regex each: the hot paths of every app come first, so a
# storm on the grab does not pay for twenty other patterns per request. The order changes no
# match: no two patterns match the same path.
api_urls = [
    *(u for app in APPS for u in getattr(app, "hot_api_urls", [])),
    *(u for app in APPS for u in app.api_urls),
]
page_urls = [u for app in APPS for u in app.page_urls]

urlpatterns = [
    path("api/", include(api_urls)),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    # Swagger UI; the split view serves its script from a URL, so it runs under a strict CSP.
    path("api/docs/", SpectacularSwaggerSplitView.as_view(url_name="api-schema"), name="api-docs"),
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
    path("metrics", health.metrics_view, name="metrics"),
    path("admin/controlroom/", include("project.controlroom.urls")),
    path("admin/", admin.site.urls),
    *page_urls,
    # The CDN bucket's local directory (nginx serves it in deploy/; S3 serves it when configured).
    re_path(r"^cdn/(?P<path>.*)$", serve, {"document_root": settings.CDN_ROOT}, name="cdn"),
]

handler400 = "project.views.bad_request"
handler403 = "project.views.permission_denied"
handler404 = "project.views.page_not_found"
handler500 = "project.views.server_error"
