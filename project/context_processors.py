from django.conf import settings


def site(request):
    return {"SITE_NAME": settings.SITE_NAME, "CDN_URL": settings.CDN_URL}
