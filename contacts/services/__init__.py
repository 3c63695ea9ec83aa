"""Writes of contacts, lists and opt-outs: the only place their rules live (imports: contacts.imports).

The API, the dashboard, the admin, tasks and other apps call these functions.
"""

from .contacts import (
    clean_phone,
    clean_telegram_chat_id,
    contact_clean,
    contact_create,
    contact_delete,
    contact_update,
)
from .fields import contact_field_clean, contact_field_create, contact_field_update, contact_fields_register
from .lists import (
    MAX_LIST_NUMBER,
    clean_list_number,
    contact_list_add_contacts,
    contact_list_create,
    contact_list_create_with_phones,
    contact_list_delete,
    contact_list_get_or_create,
    contact_list_recount,
    contact_list_remove_contacts,
    contact_list_update,
    contacts_get_or_create_by_phones,
)
from .opt_out import KeywordOutcome, contact_apply_keyword, contact_opt_in, contact_opt_out, contacts_opt_out_by_ids

__all__ = [
    "MAX_LIST_NUMBER",
    "KeywordOutcome",
    "clean_list_number",
    "clean_phone",
    "clean_telegram_chat_id",
    "contact_apply_keyword",
    "contact_clean",
    "contact_create",
    "contact_delete",
    "contact_field_clean",
    "contact_field_create",
    "contact_field_update",
    "contact_fields_register",
    "contact_list_add_contacts",
    "contact_list_create",
    "contact_list_create_with_phones",
    "contact_list_delete",
    "contact_list_get_or_create",
    "contact_list_recount",
    "contact_list_remove_contacts",
    "contact_list_update",
    "contact_opt_in",
    "contact_opt_out",
    "contact_update",
    "contacts_get_or_create_by_phones",
    "contacts_opt_out_by_ids",
]
