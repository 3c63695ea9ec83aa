from django.urls import URLPattern, URLResolver, path
from rest_framework.routers import SimpleRouter

from .views import LedgerEntryViewSet, PriceViewSet, WalletView

router = SimpleRouter()
router.register("wallet/transactions", LedgerEntryViewSet, basename="wallet-transaction")
router.register("prices", PriceViewSet, basename="price")

urlpatterns: list[URLPattern | URLResolver] = [path("wallet/", WalletView.as_view(), name="wallet"), *router.urls]
