from rest_framework.routers import SimpleRouter

from .views import TrackedLinkViewSet

router = SimpleRouter()
router.register("url-tracking", TrackedLinkViewSet, basename="url-tracking")

urlpatterns = router.urls
