"""Who is asking, and which rows they may see.

Scope is enforced in SQL, in the query that reads the rows, so nothing outside a user's scope is
ever loaded: a resource outside it is indistinguishable from one that does not exist (404). The
fragments below are constants combined with constants; every value is a named parameter taken
from :meth:`Principal.params`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

Role = Literal["admin", "staff", "family", "district"]


@dataclass(frozen=True)
class Principal:
    user_id: int
    username: str
    role: Role
    care_centre_id: int | None
    locale: str
    district_centre_ids: tuple[int, ...] = ()

    @property
    def can_write(self) -> bool:
        """Families and district offices read; admins and care staff act."""
        return self.role in ("admin", "staff")

    def params(self, **extra: Any) -> dict[str, Any]:
        return {
            "p_role": self.role,
            "p_centre": self.care_centre_id,
            "p_user": self.user_id,
            "p_centres": list(self.district_centre_ids),
            **extra,
        }


# A home ``h`` is visible to admins, to staff of its centre, and to family of a resident living there.
HOME_VISIBLE = """(
    %(p_role)s = 'admin'
    OR (%(p_role)s = 'staff' AND h.care_centre_id = %(p_centre)s)
    OR (%(p_role)s = 'family' AND EXISTS (
        SELECT 1 FROM family_links fl JOIN residents fr ON fr.id = fl.resident_id
         WHERE fl.user_id = %(p_user)s AND fr.home_id = h.id))
)"""

# A resident ``r`` living in home ``h``.
RESIDENT_VISIBLE = """(
    %(p_role)s = 'admin'
    OR (%(p_role)s = 'staff' AND h.care_centre_id = %(p_centre)s)
    OR (%(p_role)s = 'family' AND EXISTS (
        SELECT 1 FROM family_links fl WHERE fl.user_id = %(p_user)s AND fl.resident_id = r.id))
)"""

# An alert ``a``: staff see their centre's; family only alerts about their linked residents.
ALERT_VISIBLE = """(
    %(p_role)s = 'admin'
    OR (%(p_role)s = 'staff' AND a.care_centre_id = %(p_centre)s)
    OR (%(p_role)s = 'family' AND EXISTS (
        SELECT 1 FROM family_links fl WHERE fl.user_id = %(p_user)s AND fl.resident_id = a.resident_id))
)"""

# A care centre ``c``: admins see all, staff their own, a district office the centres it oversees,
# families none. A district office sees centres and their figures only: homes, residents and alerts
# (health data of named people) stay invisible to it, so every fragment above leaves it out.
CENTRE_VISIBLE = """(
    %(p_role)s = 'admin' OR (%(p_role)s = 'staff' AND c.id = %(p_centre)s)
    OR (%(p_role)s = 'district' AND c.id = ANY(%(p_centres)s::bigint[]))
)"""
