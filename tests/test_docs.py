"""The docs a student and an instructor read stay in step with the course: the README
links only to files in the repository, and docs/CONTRACT.md names every graded
function, every exercise file and every `course` command."""

from __future__ import annotations

import re

from conftest import ROOT
from grader.cli import main
from grader.manifest import load_manifest

LINK = re.compile(r"\]\(([^)#\s]+)(?:#[^)]*)?\)")


def test_readme_links_stay_inside_the_repository():
    readme = (ROOT / "README.md").read_text()
    links = [target for target in LINK.findall(readme) if "://" not in target]
    assert links
    for target in links:
        path = (ROOT / target).resolve()
        assert path.is_relative_to(ROOT.resolve()), f"README links outside the repository: {target}"
        assert path.exists(), f"README links a missing file: {target}"
    assert "../" not in readme


def test_contract_names_every_function_file_and_command():
    contract = (ROOT / "docs" / "CONTRACT.md").read_text()
    manifest = load_manifest()
    for exercise in manifest.exercises:
        assert f"`{exercise.file}`" in contract, exercise.file
        for function in exercise.functions:
            assert f"{function}(" in contract, function
    for command in main.commands:
        assert f"`course {command}" in contract, command
