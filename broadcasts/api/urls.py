from rest_framework.routers import SimpleRouter

from .views import BroadcastViewSet, MessageViewSet, ReplyViewSet

router = SimpleRouter()
router.register("broadcasts", BroadcastViewSet, basename="broadcast")
router.register("messages", MessageViewSet, basename="message")
router.register("replies", ReplyViewSet, basename="reply")

urlpatterns = router.urls
