from rest_framework.routers import SimpleRouter

from .views import ContactImportViewSet, ContactListViewSet, ContactViewSet

router = SimpleRouter()
router.register("contacts", ContactViewSet, basename="contact")
router.register("contact-lists", ContactListViewSet, basename="contact-list")
router.register("contact-imports", ContactImportViewSet, basename="contact-import")

urlpatterns = [*router.urls]
