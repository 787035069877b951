from django.urls import path

from signin import api, views

page_urls = [path("signin/", views.signin_page, name="signin")]

# The hot path (DESIGN.md); project/urls.py tries every app's hot paths before anything else.
hot_api_urls = [
    path("signin/", api.signin, name="api-signin"),
]

api_urls = [
    path("signin/calendar/", api.calendar, name="api-signin-calendar"),
]
