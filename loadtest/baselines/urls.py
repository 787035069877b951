"""The bench's root URLconf: the baselines under /api/bench/, then the product's own URLs."""

from django.urls import include, path

from loadtest.baselines import views
from project import urls as product_urls

baseline_urls = [
    path("bare/", views.bare, name="bench-bare"),
    path("bare-auth/", views.bare_auth, name="bench-bare-auth"),
    path("bare-redis/", views.bare_redis, name="bench-bare-redis"),
    path("signin/naive/", views.signin_naive, name="bench-signin-naive"),
    path("orders/nocache/", views.orders_nocache, name="bench-orders-nocache"),
    path("orders/flash-naive/<int:product_id>/buy/", views.flash_naive, name="bench-flash-naive"),
    path("redpackets/<int:campaign_id>/grab-naive/", views.grab_naive, name="bench-redpacket-grab-naive"),
    path("home/l2only/", views.home_l2only, name="bench-home-l2only"),
    path("home/nocache/", views.home_nocache, name="bench-home-nocache"),
    path("me/nocache/", views.me_nocache, name="bench-me-nocache"),
]

# First, so the baselines resolve as cheaply as the hot paths they are compared with.
urlpatterns = [path("api/bench/", include(baseline_urls)), *product_urls.urlpatterns]

handler400 = product_urls.handler400
handler403 = product_urls.handler403
handler404 = product_urls.handler404
handler500 = product_urls.handler500
