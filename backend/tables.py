"""Imports every table module so that ``SQLModel.metadata`` is complete (Alembic, tests).

Add a line here when a domain gets a ``models.py``.
"""

from backend.access import models as access_models
from backend.auth import models as auth_models
from backend.auth.simulator import models as wechat_simulator_models
from backend.imaging import models as imaging_models
from backend.institutions import models as institution_models
from backend.notify import models as notify_models
from backend.people import models as people_models
from backend.wechat import models as wechat_models

__all__ = [
    "access_models",
    "auth_models",
    "imaging_models",
    "institution_models",
    "notify_models",
    "people_models",
    "wechat_models",
    "wechat_simulator_models",
]
