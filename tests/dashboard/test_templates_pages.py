"""A message template's page: open it, edit it and delete it, all through templates_app.services."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import connection

from accounts.models import Membership
from templates_app.models import Template
from tests.factories.accounts import ClientFactory
from tests.factories.templates_app import TemplateFactory

pytestmark = pytest.mark.django_db

R = Membership.Role
LONG = "Hello {{first_name}}, " + "x" * 170  # GSM-7, two parts


def _edit(template: Template, **changes: str) -> dict[str, str]:
    form = {"name": template.name, "language": template.language, "category": template.category}
    form["content"] = template.content
    return {**form, **changes}


def test_the_list_links_each_template_to_its_page(login, shop):
    template = TemplateFactory(client=shop.client)
    page = login(R.VIEWER, shop.client).get("/templates/").content.decode()
    assert f'href="/templates/{template.pk}/"' in page


def test_a_template_page_shows_content_encoding_parts_and_variables(login, shop):
    template = TemplateFactory(client=shop.client, content=LONG)
    response = login(R.VIEWER, shop.client).get(f"/templates/{template.pk}/")
    assert response.status_code == 200
    page = response.content.decode()
    assert "x" * 170 in page
    assert "GSM-7" in page
    assert "2 parts" in page
    assert "<code>first_name</code>" in page
    assert 'data-testid="template-edit"' not in page  # a viewer sees no form
    assert "/delete/" not in page


def test_a_ucs2_template_names_the_characters_that_force_it(login, shop):
    template = TemplateFactory(client=shop.client, content="Привет")
    page = login(R.VIEWER, shop.client).get(f"/templates/{template.pk}/").content.decode()
    assert "UCS-2" in page
    assert "1 part" in page


def test_a_rejected_whatsapp_template_shows_its_reason(login, shop):
    template = TemplateFactory(
        client=shop.client, channel="whatsapp", status="rejected", rejection_reason="Too promotional."
    )
    page = login(R.VIEWER, shop.client).get(f"/templates/{template.pk}/").content.decode()
    assert "Rejected" in page
    assert "Too promotional." in page
    assert 'data-testid="template-sms"' not in page  # encoding and parts are for SMS only


def test_the_page_costs_a_few_queries(login, shop):
    template = TemplateFactory(client=shop.client)
    web = login(R.MANAGER, shop.client)
    queries: list[str] = []

    def record(execute: Any, sql: str, *rest: Any) -> Any:
        queries.append(sql)
        return execute(sql, *rest)

    with connection.execute_wrapper(record):
        assert web.get(f"/templates/{template.pk}/").status_code == 200
    assert len(queries) <= 4, queries


def test_a_manager_edits_the_content(login, shop):
    template = TemplateFactory(client=shop.client, content="Hi")
    web = login(R.MANAGER, shop.client)
    response = web.post(f"/templates/{template.pk}/", _edit(template, content=LONG, name="renamed"))
    assert response.status_code == 302
    assert response["Location"] == f"/templates/{template.pk}/"
    template.refresh_from_db()
    assert (template.name, template.content, template.segments) == ("renamed", LONG, 2)
    assert template.variables == ["first_name"]
    page = web.get(response["Location"]).content.decode()
    assert "Template saved." in page
    assert "2 parts" in page


def test_editing_an_approved_whatsapp_template_shows_what_the_service_did(login, shop):
    template = TemplateFactory(client=shop.client, channel="whatsapp", status="approved", content="Hi {{1}}")
    web = login(R.MANAGER, shop.client)
    response = web.post(f"/templates/{template.pk}/", _edit(template, content="Hello {{1}}"), follow=True)
    template.refresh_from_db()
    assert template.content == "Hello {{1}}"
    assert template.status == Template.Status.DRAFT  # the service's rule: Meta reviews every change
    page = response.content.decode()
    assert "Draft" in page
    assert "Submit for approval" in page


def test_an_invalid_edit_shows_the_error_and_changes_nothing(login, shop):
    template = TemplateFactory(client=shop.client, content="Hi", name="promo")
    web = login(R.MANAGER, shop.client)
    response = web.post(f"/templates/{template.pk}/", _edit(template, content="   ", name="new name"))
    assert response.status_code == 400
    page = response.content.decode()
    assert "The content must not be empty." in page
    assert 'value="new name"' in page  # what was typed is kept in the form
    template.refresh_from_db()
    assert (template.name, template.content) == ("promo", "Hi")


def test_a_duplicate_name_is_refused_in_words(login, shop):
    TemplateFactory(client=shop.client, name="taken")
    template = TemplateFactory(client=shop.client, name="mine")
    response = login(R.MANAGER, shop.client).post(f"/templates/{template.pk}/", _edit(template, name="taken"))
    assert response.status_code == 400
    assert "already exists" in response.content.decode()
    template.refresh_from_db()
    assert template.name == "mine"


def test_a_pending_whatsapp_template_cannot_be_edited(login, shop):
    template = TemplateFactory(client=shop.client, channel="whatsapp", status="pending", content="Hi {{1}}")
    response = login(R.MANAGER, shop.client).post(f"/templates/{template.pk}/", _edit(template, content="Yo"))
    assert response.status_code == 400
    assert "waiting for approval" in response.content.decode()
    template.refresh_from_db()
    assert (template.content, template.status) == ("Hi {{1}}", Template.Status.PENDING)


def test_a_viewer_cannot_edit_or_delete(login, shop):
    template = TemplateFactory(client=shop.client, content="Hi")
    web = login(R.VIEWER, shop.client)
    assert web.post(f"/templates/{template.pk}/", _edit(template, content="Changed")).status_code == 403
    assert web.post(f"/templates/{template.pk}/delete/").status_code == 403
    template.refresh_from_db()
    assert template.content == "Hi"


def test_another_clients_template_is_a_404(login, shop):
    other = TemplateFactory(client=ClientFactory(), content="Theirs")
    web = login(R.OWNER, shop.client)
    assert web.get(f"/templates/{other.pk}/").status_code == 404
    assert web.post(f"/templates/{other.pk}/", _edit(other, content="Mine")).status_code == 404
    assert web.get(f"/templates/{other.pk}/delete/").status_code == 404
    assert web.post(f"/templates/{other.pk}/delete/").status_code == 404
    other.refresh_from_db()
    assert other.content == "Theirs"


def test_delete_asks_first_then_deletes(login, shop):
    template = TemplateFactory(client=shop.client, name="old")
    web = login(R.MANAGER, shop.client)
    page = web.get(f"/templates/{template.pk}/").content.decode()
    assert f'href="/templates/{template.pk}/delete/"' in page
    confirm = web.get(f"/templates/{template.pk}/delete/")
    assert confirm.status_code == 200
    assert '<button type="submit" class="danger">Delete</button>' in confirm.content.decode()
    assert Template.objects.filter(pk=template.pk).exists()  # asking deletes nothing
    response = web.post(f"/templates/{template.pk}/delete/")
    assert response["Location"] == "/templates/"
    assert not Template.objects.filter(pk=template.pk).exists()
    assert "Template deleted." in web.get("/templates/").content.decode()


def test_create_from_the_list_then_open_it(login, shop):
    web = login(R.MANAGER, shop.client)
    web.post("/templates/", {"name": "welcome", "channel": "sms", "language": "eng", "content": "Welcome {{name}}"})
    template = Template.objects.get(client=shop.client, name="welcome")
    page = web.get(f"/templates/{template.pk}/").content.decode()
    assert "Welcome {{name}}" in page
    assert "<code>name</code>" in page
