"""The connectors file: which sources exist and how each names its objects and fields.

Every organisation names its objects and fields differently, so each source
maps payplan's fields (left) to the source's field names (right). The file is
validated by pydantic when it is loaded; a required field that is not mapped
is reported by its path, for example
``sources.salesforce.invoice.fields.due_date``, before any sync starts.
docs/connectors.md describes the format.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Literal

import yaml
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError

from storage.connectors.base import MappingError

# Field and object names are put into SOQL and SuiteQL text, so only plain
# identifiers, with dots for relationship paths, are accepted.
IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*")


def _identifier(value: str) -> str:
    if IDENTIFIER.fullmatch(value) is None:
        raise ValueError(f"{value!r} is not a field or object name; use letters, digits, underscores and dots only")
    return value


Name = Annotated[str, AfterValidator(_identifier)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class AccountFields(_Strict):
    id: Name
    name: Name
    last_modified: Name
    country_code: Name | None = None


class InvoiceFields(_Strict):
    id: Name
    account: Name
    number: Name
    invoice_date: Name
    due_date: Name
    amount: Name
    # Empty while the invoice is open; open invoices are those where it is empty.
    settled_date: Name
    last_modified: Name
    disputed: Name | None = None


class PaymentFields(_Strict):
    id: Name
    account: Name
    paid_on: Name
    amount: Name
    last_modified: Name


class ContactFields(_Strict):
    id: Name
    account: Name
    name: Name
    email: Name | None = None
    phone: Name | None = None


class PlanStatusFields(_Strict):
    status: Name
    schedule: Name | None = None
    outcome: Name | None = None


class AccountObject(_Strict):
    object: Name
    fields: AccountFields


class InvoiceObject(_Strict):
    object: Name
    fields: InvoiceFields
    # An extra condition, for example "type = 'CustInvc'" for NetSuite's transaction table.
    where: str | None = None


class PaymentObject(_Strict):
    object: Name
    fields: PaymentFields
    where: str | None = None


class ContactObject(_Strict):
    object: Name
    fields: ContactFields


class PlanStatusObject(_Strict):
    """Fields of the account record that receive the plan's state on write-back."""

    object: Name
    fields: PlanStatusFields


class RecordMapping(_Strict):
    account: AccountObject
    invoice: InvoiceObject
    payment: PaymentObject
    contact: ContactObject | None = None
    # Without it nothing is written back to this source.
    plan_status: PlanStatusObject | None = None


class SalesforceSource(RecordMapping):
    kind: Literal["salesforce"]
    api_version: str = Field("62.0", pattern=r"^[0-9]+\.[0-9]$")


class NetSuiteSource(RecordMapping):
    kind: Literal["netsuite"]
    # Rows per SuiteQL page; NetSuite allows at most 1000.
    page_size: int = Field(1000, ge=1, le=1000)


class CsvSource(_Strict):
    kind: Literal["csv"]
    path: Path


SOURCE_KINDS = ("salesforce", "netsuite", "csv")
Source = Annotated[SalesforceSource | NetSuiteSource | CsvSource, Field(discriminator="kind")]


class ConnectorsFile(_Strict):
    sources: dict[Annotated[str, Field(pattern=r"^[a-z][a-z0-9_-]{0,63}$")], Source]


def parse_connectors(document: object, *, origin: str = "connectors file") -> ConnectorsFile:
    """Validate a parsed connectors document; raise MappingError naming every invalid or missing field."""
    try:
        return ConnectorsFile.model_validate(document)
    except ValidationError as error:
        problems = [_describe(problem) for problem in error.errors()]
        raise MappingError(f"{origin} is invalid:\n" + "\n".join(f"- {problem}" for problem in problems)) from None


def load_connectors_file(path: Path) -> ConnectorsFile:
    """Read and validate the connectors file at ``path``."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise MappingError(f"cannot read connectors file {path}: {error.strerror}; check PAYPLAN_CONNECTORS_FILE") from None
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as error:
        raise MappingError(f"connectors file {path} is not valid YAML: {error}") from None
    config = parse_connectors(document, origin=f"connectors file {path}")
    # A relative CSV path is read from the connectors file's folder, not the working directory.
    sources = {
        name: source.model_copy(update={"path": path.parent / source.path})
        if isinstance(source, CsvSource) and not source.path.is_absolute()
        else source
        for name, source in config.sources.items()
    }
    return config.model_copy(update={"sources": sources})


def _describe(problem: dict) -> str:
    parts = [str(part) for part in problem["loc"]]
    # The discriminated union puts the kind after the source name, as in
    # sources.billing.salesforce.invoice; the kind is not a key of the file.
    if len(parts) > 2 and parts[0] == "sources" and parts[2] in SOURCE_KINDS:
        del parts[2]
    where = ".".join(parts)
    if problem["type"] == "missing":
        return f"{where} is missing; map it to the name of the source's field"
    if problem["type"] == "extra_forbidden":
        return f"{where} is not a known setting; check its spelling in docs/connectors.md"
    return f"{where}: {problem['msg']}"
