"""Remove patient and study identifiers from batch results (``--deidentify``).

Applied in the main process before anything is cached or written, so the key
never travels to workers and neither the cache nor the tables hold identifiers:

- ``case_id``, ``patient_id``, ``study_uid``, ``review_folder`` -> keyed pseudonyms
  (folder names often carry names or record numbers); so is ``reader`` when it is
  only the folder's name (no reader in review.json);
- ``accession_number`` -> removed;
- ``study_date``, ``review_created``, ``review_modified`` -> shifted by the
  patient's offset (or removed with ``shift_dates=False``);
- error messages: the folder path (and folder names where they stand in a path)
  is replaced by the review's pseudonym, and every identifier of the review, also
  of one that failed to load (read from its raw ``review.json``), by ``[removed]``;
  schema errors never echo field values in the first place
  (:func:`nvcview.review.schema.validate_review_dict`). Ordinary words of a
  message are left alone even when a folder has the same name ("review").

Patient names and birth dates are never exported in the first place.
"""

from __future__ import annotations

import re

from nvcview.batch.pseudonym import Pseudonymizer

DATE_COLUMNS = ("study_date", "review_created", "review_modified")


def _patient_key(record: dict) -> str:
    """Whose date offset applies: the patient id, or the case id without one."""
    return record.get("patient_id") or f"case:{record.get('case_id') or ''}"


def deidentify_record(record: dict, pz: Pseudonymizer) -> dict:
    """A copy of one vessel or case row with identifiers pseudonymised and dates shifted."""
    out = dict(record)
    patient = _patient_key(record)
    if "case_id" in out:
        out["case_id"] = pz.pseudonym(record.get("case_id") or "", kind="case", prefix="C")
    if "patient_id" in out:
        # the one patient pseudonym, as in the report (nvcview.case.pseudonym)
        out["patient_id"] = pz.patient(
            record.get("patient_id"), record.get("study_uid"), record.get("case_id")
        )
    if "review_folder" in out:
        out["review_folder"] = pz.pseudonym(record.get("review_folder") or "", "folder", "R")
    if "study_uid" in out:
        out["study_uid"] = pz.pseudonym(record.get("study_uid") or "", kind="study", prefix="S")
    if "accession_number" in out:
        out["accession_number"] = None
    for name in DATE_COLUMNS:
        if name in out:
            out[name] = pz.shift_date(record.get(name), patient)
    return out


def scrub_message(message: str, secrets_: list[str], replacement: str) -> str:
    """Replace every occurrence of the given strings (longest first) in a message.

    A value is replaced where it stands on its own (not inside a longer word or
    number: "12" in "2012" is kept), which is where identifiers appear.
    """
    for value in sorted({s for s in secrets_ if s and len(s) >= 2}, key=len, reverse=True):
        message = re.sub(
            rf"(?<![A-Za-z0-9]){re.escape(value)}(?![A-Za-z0-9])", replacement, message
        )
    return message


def _looks_like_identifier(part: str) -> bool:
    """A folder name that may name a patient: not one plain lower-case word."""
    return not re.fullmatch(r"[a-z]+", part)


def scrub_folder_names(message: str, parts: list[str], replacement: str) -> str:
    """Replace folder names where they stand in a path (next to ``/``), and anywhere
    they stand alone when they look like identifiers (digits, capitals, ``_``...).

    A folder called ``review`` is replaced in ``review/labels.nii.gz`` but not in the
    words "invalid review".
    """
    for part in sorted({p for p in parts if p and len(p) >= 2}, key=len, reverse=True):
        e = re.escape(part)
        if _looks_like_identifier(part):
            message = re.sub(rf"(?<![A-Za-z0-9]){e}(?![A-Za-z0-9])", replacement, message)
        else:
            message = re.sub(rf"(?<=/){e}(?![A-Za-z0-9])|{e}(?=/)", replacement, message)
    return message


def deidentify_result(result: dict, task: dict, pz: Pseudonymizer) -> dict:
    """De-identify one worker result (see :func:`nvcview.batch.case.process_case`).

    Parameters
    ----------
    result : dict
        ``status`` "ok" (rows + case) or "error" (message + phi).
    task : dict
        The task it answers (``folder``, ``rel``, ``root``) whose paths are
        scrubbed from error messages.
    pz : Pseudonymizer
        Key and date mode.
    """
    out = {k: v for k, v in result.items() if k not in ("phi", "reader_from_folder")}
    from_folder = bool(result.get("reader_from_folder"))

    def reader(record: dict) -> dict:
        # a reader column filled from the folder name (folders carry names) is pseudonymised
        if from_folder and record.get("reader"):
            record["reader"] = pz.pseudonym(record["reader"], kind="reader", prefix="U")
        return record

    if result.get("status") == "ok":
        out["rows"] = [reader(deidentify_record(r, pz)) for r in result["rows"]]
        out["case"] = reader(deidentify_record(result["case"], pz))
        return out
    reader(out)
    folder_pseudonym = pz.pseudonym(task["rel"], "folder", "R")
    message = str(result.get("message", ""))
    for path in sorted((task["folder"], task.get("root", "")), key=len, reverse=True):
        if path and len(path) >= 2:
            message = message.replace(path, folder_pseudonym)
    rel_parts = [p for p in task["rel"].split("/") if p not in ("", ".")]
    message = scrub_folder_names(message, [task["rel"], *rel_parts], folder_pseudonym)
    message = scrub_message(message, list(result.get("phi") or []), "[removed]")
    case_id = result.get("case_id") or ""
    message = scrub_message(message, [case_id], "[case]")
    out["message"] = message
    out["case_id"] = pz.pseudonym(case_id, kind="case", prefix="C")
    return out
