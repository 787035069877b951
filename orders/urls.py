from django.urls import path

from orders import api, views

page_urls = [
    path("products/", views.product_list, name="product-list"),
    path("products/<int:product_id>/", views.product_detail, name="product-detail"),
    path("orders/", views.my_orders, name="my-orders"),
    path("orders/status/<str:token>/", views.order_status, name="order-status"),
]

# The hot paths (DESIGN.md); project/urls.py tries every app's hot paths before anything else.
hot_api_urls = [
    path("flash/<int:product_id>/buy/", api.flash_buy, name="api-flash-buy"),
    path("orders/", api.orders, name="api-orders"),
]

api_urls = [
    path("products/", api.ProductListApi.as_view(), name="api-products"),
    path("products/<int:product_id>/", api.ProductDetailApi.as_view(), name="api-product-detail"),
    path("flash/orders/<str:token>/", api.flash_order_status, name="api-flash-order-status"),
]
