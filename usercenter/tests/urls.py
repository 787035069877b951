"""The product's URLs plus one view that does nothing but authenticate: what the token tests
measure (every product view also reads the database or Redis)."""

from django.urls import path

from project import urls as product_urls
from project.api import endpoint, json_response


@endpoint("GET", "POST")
def auth_only(request):
    return json_response({"ok": True, "user_id": request.user.pk})


urlpatterns = [path("api/test/auth-only/", auth_only, name="test-auth-only"), *product_urls.urlpatterns]

handler400 = product_urls.handler400
handler403 = product_urls.handler403
handler404 = product_urls.handler404
handler500 = product_urls.handler500
