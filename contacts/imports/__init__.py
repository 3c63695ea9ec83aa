"""Contact imports from CSV and XLSX files: files.py reads, rows.py checks, writer.py writes, services.py runs."""

from .files import MAX_ROWS, ImportFileError
from .services import CHUNK_SIZE, contact_import_create, contact_import_enqueue, contact_import_run

__all__ = [
    "CHUNK_SIZE",
    "MAX_ROWS",
    "ImportFileError",
    "contact_import_create",
    "contact_import_enqueue",
    "contact_import_run",
]
