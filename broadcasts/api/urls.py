from rest_framework.routers import SimpleRouter

from .views import BroadcastViewSet, MessageViewSet

router = SimpleRouter()
router.register("broadcasts", BroadcastViewSet, basename="broadcast")
router.register("messages", MessageViewSet, basename="message")

urlpatterns = router.urls
