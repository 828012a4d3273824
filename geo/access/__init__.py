"""Who may do and see what: user accounts and sign-in, and the releasability rule.

``releasability`` is the one rule of who may see a stored row (Python and SQL);
``accounts`` holds the users file, passwords, roles, sign-in throttling and OIDC mapping.
"""

from geo.access.accounts import User, Viewer, load_users, verify
from geo.access.releasability import ALL, may_see, parse_releasability

__all__ = ["ALL", "User", "Viewer", "load_users", "may_see", "parse_releasability", "verify"]
