"""The config layer: the schema (rules.py, schema.py), the one `validate()` (validate.py, model.py, limits.py), the
resolvers conf/ uses (resolvers.py, registered on import), resumed configs (resume.py) and the check of
`+key=value` overrides (overrides.py). Imports no torch: a bad config fails in well under a second."""
from reslab.config import resolvers  # noqa: F401 - registers the resolvers conf/ uses
from reslab.config.model import check_model
from reslab.config.validate import to_dict, validate

__all__ = ["check_model", "to_dict", "validate"]
