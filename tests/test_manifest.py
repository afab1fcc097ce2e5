"""course.toml loading: typed, strict, and in step with the registered checks."""


import pytest

import grader.checks  # noqa: F401 - registers the checks
from grader.checks.base import REGISTRY
from grader.manifest import ManifestError, load_manifest


def test_every_check_in_the_manifest_is_implemented_and_vice_versa():
    manifest = load_manifest()
    declared = {(ex.id, c.id) for ex in manifest.exercises for c in ex.checks}
    assert declared == set(REGISTRY)


def test_select_targets():
    manifest = load_manifest()
    assert {ex.id for ex in manifest.select("level1")} == {"level1.naive_attention", "level1.softmax", "level1.merge"}
    assert [ex.id for ex in manifest.select("level2.flash_v2")] == ["level2.flash_v2"]
    assert len(manifest.select("all")) == len(manifest.exercises)
    with pytest.raises(KeyError, match="unknown target 'level7'"):
        manifest.select("level7")


@pytest.mark.parametrize("edit, message", [
    (lambda s: s.replace("examples = 25", "exampels = 25"), "unknown key course.exampels"),
    (lambda s: s.replace("seed = 20240601", ""), "missing key course.seed"),
    (lambda s: s.replace("checks.oracle = { points = 6 }", "checks.oracle = { point = 6 }", 1),
     "unknown key exercises.level1.naive_attention.checks.oracle.point"),
    (lambda s: s.replace("needs = \"gpu\"", "needs = \"tpu\"", 1), "needs is 'tpu'"),
    (lambda s: s.replace("bfloat16 = 1.6e-2", "bf16 = 1.6e-2"), "tolerance.floor"),
])
def test_bad_manifest_names_the_key(tmp_path, edit, message):
    root = load_manifest().root
    text = (root / "course.toml").read_text()
    (tmp_path / "course.toml").write_text(edit(text))
    with pytest.raises(ManifestError, match=message.replace(".", r"\.").replace("(", r"\(")):
        load_manifest(tmp_path)


def test_missing_manifest(tmp_path):
    with pytest.raises(ManifestError, match="no course.toml"):
        load_manifest(tmp_path)
