"""De-identification of DICOM headers by PS3.15 Annex E, with keyed UIDs and per-patient date shifts.

``deidentify_dataset`` applies Table E.1-1 under a ``Profile`` (the Basic Profile plus
options) to a whole header, sequences included; ``deidentify_encoded`` does the same to a
file's bytes without building pydicom's model (raising ``Unsupported`` for encodings it
leaves to the first); free text, pixels and custom recipes are handled by the modules
beside it.
"""

from imagehub.core.deid.dates import DateShifter
from imagehub.core.deid.encoded import Unsupported
from imagehub.core.deid.engine import TextCleaner, deidentify_dataset, deidentify_encoded
from imagehub.core.deid.phi import header_phi
from imagehub.core.deid.profile import PROFILES, Option, Profile
from imagehub.core.deid.report import AttributeAction, TagReport
from imagehub.core.deid.table import annex_e
from imagehub.core.deid.uids import UidMapper

__all__ = [
    "PROFILES",
    "AttributeAction",
    "DateShifter",
    "Option",
    "Profile",
    "TagReport",
    "TextCleaner",
    "UidMapper",
    "Unsupported",
    "annex_e",
    "deidentify_dataset",
    "deidentify_encoded",
    "header_phi",
]
