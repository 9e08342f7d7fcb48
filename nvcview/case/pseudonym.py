"""The one keyed pseudonym scheme of nvcview (reports and batch tables) and date shifting.

A pseudonym is ``PREFIX-`` plus the first 50 bits (base32) of
``HMAC-SHA256(key, kind + ":" + value)``: the same identifier gives the same
pseudonym in every run made with the same key, and nobody without the key can
recompute it from a guessed identifier (unlike a plain hash). The key file is
read here and never copied into any output.

Dates are shifted, not dropped, by a per-patient whole number of days between
-365 and -1 (derived from the key and the patient identifier), so intervals
between the studies and reviews of one patient are preserved.

A patient's pseudonym is :meth:`Pseudonymizer.patient`: ``NVC-`` plus the code of
the patient identifier (DICOM PatientID, else the StudyInstanceUID, else the case
id). The report (``nvcview report --deidentify``) and the batch table
(``nvcview batch --deidentify``) both call it, so a report and a batch row of the
same patient made with the same key carry the same pseudonym. Without a key the
report uses :data:`DEFAULT_KEY` (stable, but anyone knowing a patient id can
recompute it: pass a secret key for real exports).
"""

from __future__ import annotations

import base64
import datetime as _dt
import hashlib
import hmac
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from nvcview.errors import InputError

#: Minimum key length in bytes (128 bits).
MIN_KEY_BYTES = 16
#: Largest date shift in days (shifts are in [-MAX_SHIFT_DAYS, -1]).
MAX_SHIFT_DAYS = 365
#: Used when no secret key is given (stable, but not secret: see the module docstring).
DEFAULT_KEY = b"nvcview-report-pseudonym-v1"
#: Prefix of patient pseudonyms.
PATIENT_PREFIX = "NVC"

__all__ = [
    "DEFAULT_KEY",
    "MAX_SHIFT_DAYS",
    "MIN_KEY_BYTES",
    "Pseudonymizer",
    "patient_identity",
    "read_key_file",
]


def patient_identity(
    patient_id: str | None, study_uid: str | None = None, case_id: str | None = None
) -> str:
    """The identifier a patient pseudonym is derived from: patient id, else study UID,
    else case id (empty when there is none)."""
    return (patient_id or "") or (study_uid or "") or (case_id or "")


def read_key_file(path: str | os.PathLike, *, create: bool = False) -> bytes:
    """Read a pseudonymisation key (the file's bytes, surrounding whitespace removed).

    Parameters
    ----------
    path : path-like
        Key file. Keep it apart from the exported tables and never share it.
    create : bool
        When the file does not exist, write a new random 256-bit key there
        (hex text, file mode 0600) instead of failing.

    Returns
    -------
    bytes
        The key.

    Raises
    ------
    InputError
        Missing (and ``create`` is False), unreadable, or shorter than
        :data:`MIN_KEY_BYTES` bytes.
    """
    path = Path(path)
    if not path.exists():
        if not create:
            raise InputError(f"{path}: key file does not exist")
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="ascii") as fh:
            fh.write(secrets.token_hex(32) + "\n")
            fh.flush()
            os.fsync(fh.fileno())
    try:
        key = path.read_bytes().strip()
    except OSError as exc:
        raise InputError(f"{path}: key file cannot be read ({exc.strerror})") from exc
    if len(key) < MIN_KEY_BYTES:
        raise InputError(
            f"{path}: key file holds {len(key)} bytes; at least {MIN_KEY_BYTES} are needed"
        )
    return key


@dataclass(frozen=True)
class Pseudonymizer:
    """Keyed pseudonyms and per-patient date shifts.

    Parameters
    ----------
    key : bytes
        Secret key (at least :data:`MIN_KEY_BYTES` bytes).
    shift_dates : bool
        True: shift dates by the patient's offset; False: drop them (``None``).
    """

    key: bytes
    shift_dates: bool = True

    def __post_init__(self) -> None:
        if len(self.key) < MIN_KEY_BYTES:
            raise ValueError(f"pseudonym key must be at least {MIN_KEY_BYTES} bytes")

    def _digest(self, kind: str, value: str) -> bytes:
        return hmac.new(self.key, f"{kind}:{value}".encode(), hashlib.sha256).digest()

    def pseudonym(self, value: str, kind: str = "id", prefix: str = "P") -> str:
        """Stable keyed pseudonym of ``value``; empty values stay empty.

        ``kind`` separates name spaces (the same string as a case id and as a
        patient id gives different pseudonyms).
        """
        if value is None or str(value) == "":
            return ""
        code = base64.b32encode(self._digest(kind, str(value))[:10]).decode("ascii")
        return f"{prefix}-{code[:10]}"

    def patient(
        self, patient_id: str | None, study_uid: str | None = None, case_id: str | None = None
    ) -> str:
        """The patient's pseudonym, e.g. ``"NVC-K3M9Q2ZB7A"`` (see :func:`patient_identity`).

        Empty when there is no identifier at all.
        """
        return self.pseudonym(
            patient_identity(patient_id, study_uid, case_id), kind="patient", prefix=PATIENT_PREFIX
        )

    def fingerprint(self) -> str:
        """A short non-secret tag of the key and the date mode (to key caches)."""
        mode = "shift" if self.shift_dates else "drop"
        return self._digest("fingerprint", mode).hex()[:16]

    def shift_days(self, patient: str) -> int:
        """Date offset of one patient, in whole days, in [-MAX_SHIFT_DAYS, -1]."""
        n = int.from_bytes(self._digest("date-shift", str(patient))[:4], "big")
        return -(1 + n % MAX_SHIFT_DAYS)

    def shift_date(self, value: str | None, patient: str) -> str | None:
        """Shift (or drop) a date or date-time string for one patient.

        Accepts DICOM DA ``YYYYMMDD`` (returned in the same form) and ISO 8601
        dates / date-times (returned as ISO 8601). Unparseable or empty values
        are dropped (``None``) so that nothing date-like leaks through.
        """
        if value is None or str(value).strip() == "" or not self.shift_dates:
            return None
        text = str(value).strip()
        delta = _dt.timedelta(days=self.shift_days(patient))
        if len(text) == 8 and text.isdigit():
            try:
                day = _dt.datetime.strptime(text, "%Y%m%d").date()
            except ValueError:
                return None
            return (day + delta).strftime("%Y%m%d")
        try:
            parsed = _dt.datetime.fromisoformat(text)
        except ValueError:
            return None
        if len(text) == 10:  # a date alone
            return (parsed.date() + delta).isoformat()
        return (parsed + delta).isoformat()
