"""Storage models, one module per area. Importing this package registers every
table on :data:`tenantflow.db.base.Base.metadata` (alembic relies on it)."""

from tenantflow.db.models import egress as egress
from tenantflow.db.models import engine as engine
from tenantflow.db.models import sessions as sessions
from tenantflow.db.models import tenants as tenants
