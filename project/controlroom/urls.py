from django.contrib import admin
from django.urls import path

from project.controlroom import views

urlpatterns = [
    path("", admin.site.admin_view(views.page), name="controlroom"),
    path("data.json", admin.site.admin_view(views.data), name="controlroom-data"),
    path("confirm/", admin.site.admin_view(views.confirm), name="controlroom-confirm"),
]
