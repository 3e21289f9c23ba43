"""Imports every table module so that ``SQLModel.metadata`` is complete (Alembic, tests).

Add a line here when a domain gets a ``models.py``.
"""

from backend.access import models as access_models
from backend.auth import models as auth_models
from backend.auth.simulator import models as wechat_simulator_models
from backend.checkups import models as checkup_models
from backend.family import models as family_models
from backend.institutions import models as institution_models
from backend.jobs import models as jobs_models
from backend.labs import models as lab_models
from backend.notify import models as notify_models
from backend.pdf import models as pdf_models
from backend.people import models as people_models
from backend.previews import models as preview_models
from backend.records import models as records_models
from backend.reminders import models as reminder_models
from backend.reports import models as report_models
from backend.sharing import models as sharing_models
from backend.studies import models as imaging_models
from backend.wechat import models as wechat_models

__all__ = [
    "access_models",
    "auth_models",
    "checkup_models",
    "family_models",
    "imaging_models",
    "institution_models",
    "jobs_models",
    "lab_models",
    "notify_models",
    "pdf_models",
    "people_models",
    "preview_models",
    "records_models",
    "reminder_models",
    "report_models",
    "sharing_models",
    "wechat_models",
    "wechat_simulator_models",
]
