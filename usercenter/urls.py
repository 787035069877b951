from django.urls import path

from usercenter import api, views

page_urls = [
    path("", views.home, name="home"),
    path("me/", views.me, name="me"),
    path("login/", views.LoginView.as_view(), name="login"),
    path("logout/", views.LogoutView.as_view(), name="logout"),
    path("register/", views.register, name="register"),
]

# The hot paths (DESIGN.md); project/urls.py tries every app's hot paths before anything else.
hot_api_urls = [
    path("me/", api.me, name="api-me"),
    path("home/", api.home, name="api-home"),
]

api_urls = [
    path("auth/register/", api.RegisterApi.as_view(), name="api-register"),
    path("auth/login/", api.LoginApi.as_view(), name="api-login"),
    path("auth/logout/", api.LogoutApi.as_view(), name="api-logout"),
    path("auth/whoami/", api.whoami, name="api-whoami"),
    path("me/ledger/", api.me_ledger, name="api-me-ledger"),
]
