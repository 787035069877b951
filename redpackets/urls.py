from django.urls import path

from redpackets import api, views

page_urls = [
    path("redpackets/", views.campaign_list, name="redpacket-list"),
    path("redpackets/<int:campaign_id>/", views.campaign_page, name="redpacket-detail"),
]

# The hot path (DESIGN.md); project/urls.py tries every app's hot paths before anything else.
hot_api_urls = [
    path("redpackets/<int:campaign_id>/grab/", api.grab, name="api-redpacket-grab"),
]

api_urls = [
    path("redpackets/", api.CampaignListApi.as_view(), name="api-redpackets"),
    path("redpackets/mine/", api.MyGrabsApi.as_view(), name="api-redpackets-mine"),
    path("redpackets/<int:campaign_id>/", api.CampaignDetailApi.as_view(), name="api-redpacket-detail"),
]
