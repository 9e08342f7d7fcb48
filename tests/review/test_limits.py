"""Hostile review folders and label maps: one clear line naming file and field, < 1 GB.

Every case is run through the ``nvcview`` command in its own forked process of a
driver script (the driver imports nvcview once; each case's peak RSS comes from
``os.wait4``), with an address-space limit as a safety net for the machine.
"""

from __future__ import annotations

import gzip
import json
import subprocess
import sys
import textwrap

import nibabel as nib
import numpy as np
import pytest

from nvcview.review import save_review

from .conftest import make_labels, make_review

PEAK_LIMIT_MB = 1024

DRIVER = textwrap.dedent(
    """
    import json, os, resource, sys
    from nvcview.cli import main

    cases = json.loads(open(sys.argv[1]).read())
    out = {}
    for name, argv in cases.items():
        err = sys.argv[1] + "." + name + ".err"
        pid = os.fork()
        if pid == 0:
            fd = os.open(err, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
            os.dup2(fd, 2)
            os.dup2(os.open(os.devnull, os.O_WRONLY), 1)
            vm = [l for l in open("/proc/self/status") if l.startswith("VmSize")]
            cap = int(vm[0].split()[1]) * 1024 + (4 << 30)
            resource.setrlimit(resource.RLIMIT_AS, (cap, cap))
            try:
                rc = main(argv)
            except BaseException as exc:
                import traceback
                traceback.print_exc()
                rc = 99
            sys.stderr.flush()
            os._exit(rc)
        _, status, usage = os.wait4(pid, 0)
        out[name] = {
            "rc": os.waitstatus_to_exitcode(status),
            "peak_mb": usage.ru_maxrss / 1024,
            "stderr": open(err).read(),
        }
    print(json.dumps(out))
    """
)


def _forged_nifti(path, shape, affine=None):
    """A NIfTI whose header declares ``shape`` uint8 voxels but holds none (gzip: ~120 B)."""
    hdr = nib.Nifti1Header()
    hdr.set_data_shape(shape)
    hdr.set_data_dtype(np.uint8)
    hdr.set_sform(np.eye(4) if affine is None else affine, code=1)
    hdr.set_qform(np.eye(4) if affine is None else affine, code=1)
    raw = hdr.binaryblock + b"\0" * 4
    path.write_bytes(gzip.compress(raw) if path.name.endswith(".gz") else raw)
    return path


def _folder(root, name, mutate=None, raw=None):
    folder = root / name
    save_review(make_review(), folder, make_labels())
    file = folder / "review.json"
    if raw is not None:
        file.write_bytes(raw)
    elif mutate is not None:
        doc = json.loads(file.read_text())
        mutate(doc, folder)
        file.write_text(json.dumps(doc))
    return folder


def _nested(depth):
    v: object = 1.0
    for _ in range(depth):
        v = [v]
    return v


def _set(key, value):
    def mutate(doc, folder):
        doc[key] = value

    return mutate


def _settings(doc, folder):
    doc["settings"]["surface_sigma_mm"] = 1e6


def _deep(doc, folder):
    doc["settings"]["x"] = _nested(500)


def _forged_labels(shape):
    def mutate(doc, folder):
        _forged_nifti(folder / "labels.nii.gz", shape)
        doc["labelmap_sha256"] = ""

    return mutate


def _huge_reference(doc, folder):
    doc["reference_shape"] = [1300, 1300, 1300]
    _forged_nifti(folder / "labels.nii.gz", (1300, 1300, 1300))
    doc["labelmap_sha256"] = ""


def _big_path_bytes():
    doc = json.dumps(json.loads(json.dumps(_review_doc())))
    path = "[" + ",".join(["[1.5,2.5,3.5]"] * 2_900_000) + "]"
    return doc.replace('"nerve_path_lps": [', '"nerve_path_lps": ' + path + ', "x": [', 1)


def _review_doc():
    from nvcview.review import review_to_dict

    return review_to_dict(make_review())


def _shear(doc, folder):
    aff = np.asarray(doc["reference_affine"])
    aff[0, 1] += 0.3  # shear: axes 0 and 1 no longer at right angles
    doc["reference_affine"] = aff.tolist()


#: name -> (how the folder is made, what the one line must name)
FOLDER_CASES = {
    "labels_1300_cubed": (_forged_labels((1300, 1300, 1300)), ["labels.nii.gz", "NIfTI header"]),
    "labels_32767_cubed": (_forged_labels((32767,) * 3), ["labels.nii.gz", "NIfTI header"]),
    "grid_10GB": (_huge_reference, ["review.json", "reference_shape"]),
    "brackets": (b"[" * 100_000, ["review.json", "nested"]),
    "deep_value": (_deep, ["review.json", "nested"]),
    "impression_100MB": (_set("impression", "x" * 100_000_000), ["review.json", "'impression'"]),
    "path_2.9M_points": (None, ["review.json", "'nerve_path_lps'"]),
    "sigma_1e6": (_settings, ["review.json", "settings.surface_sigma_mm"]),
    "shape_90M": (
        _set("reference_shape", [48, 90, 90_000_000]),
        ["review.json", "reference_shape"],
    ),
    "sheared_affine": (_shear, ["review.json", "reference_affine", "orthogonal"]),
    "labelmap_path_5000": (_set("labelmap_path", "a" * 4993 + ".nii.gz"), ["labelmap_path"]),
}


@pytest.fixture(scope="module")
def outcomes(tmp_path_factory):
    root = tmp_path_factory.mktemp("hostile")
    cases = {}
    for name, (how, _) in FOLDER_CASES.items():
        if name == "path_2.9M_points":
            folder = _folder(root, name)
            (folder / "review.json").write_text(_big_path_bytes())
        elif isinstance(how, bytes):
            folder = _folder(root, name, raw=how)
        else:
            folder = _folder(root, name, how)
        cases[name] = ["measure", str(folder)]
    table = root / "table.txt"
    table.write_text('    1   255  255    0  1  1  1    "facial nerve"\n')
    for name, shape in (("import_1300_cubed", (1300,) * 3), ("import_600_cubed", (600,) * 3)):
        path = _forged_nifti(root / f"{name}.nii.gz", shape)
        assert path.stat().st_size < 200
        cases[name] = ["measure", str(path), "--table", str(table)]
    spec = root / "cases.json"
    spec.write_text(json.dumps(cases))
    proc = subprocess.run(
        [sys.executable, "-c", DRIVER, str(spec)], capture_output=True, text=True, timeout=600
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize(
    "name",
    [*FOLDER_CASES, "import_1300_cubed", "import_600_cubed"],
)
def test_hostile_input_is_one_line_under_1GB(outcomes, name):
    got = outcomes[name]
    lines = got["stderr"].strip().splitlines()
    assert got["rc"] == 2, got["stderr"][-2000:]
    assert len(lines) == 1 and "Traceback" not in got["stderr"], got["stderr"][-2000:]
    needles = FOLDER_CASES[name][1] if name in FOLDER_CASES else [f"{name}.nii.gz", "NIfTI header"]
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])
    print(f"{name}: peak RSS {got['peak_mb']:.0f} MB: {lines[0][-120:]}")
    assert got["peak_mb"] < PEAK_LIMIT_MB, got["peak_mb"]


def test_import_of_a_forged_header_says_it_cannot_hold_the_voxels(outcomes):
    assert "cannot hold them" in outcomes["import_600_cubed"]["stderr"]
