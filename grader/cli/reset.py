"""`course reset TARGET`: back up the student's files, then restore the stubs."""

from __future__ import annotations

import shutil
import time

import click

from grader.manifest import ManifestError, load_manifest
from grader.report import console
from grader.stubs import stub_for

BACKUPS = ".course/backups"


@click.command(epilog="Example: course reset level1.softmax   (your file is kept under .course/backups/)")
@click.argument("target")
def reset(target: str) -> None:
    """Restore the stubs of TARGET (all, a level, or an exercise), keeping a backup of your files."""
    try:
        manifest = load_manifest()
        chosen = manifest.select(target)
    except ManifestError as err:
        raise click.ClickException(f"course.toml: {err}") from None
    except KeyError as err:
        raise click.BadParameter(err.args[0], param_hint="TARGET") from None
    stamp = time.strftime("%Y%m%d-%H%M%S")
    backup_root = manifest.root / BACKUPS / stamp
    for ex in chosen:
        try:
            stub = stub_for(manifest, ex.id)
        except FileNotFoundError:
            raise click.ClickException(f"{ex.id}: the stub's source (the reference solution, or kernels/stubs/ "
                                       "for a .cu) is missing, so no stub can be made; nothing was changed") from None
        path = manifest.root / "exercises" / ex.file
        if path.is_file() and path.read_text() == stub:
            console.print(f"{ex.id}: already the stub")
            continue
        if path.is_file():
            backup = backup_root / ex.file
            backup.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, backup)  # copy first: the stub is written only once the backup exists
            console.print(f"{ex.id}: your file was saved to {backup.relative_to(manifest.root)}")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(stub)
        console.print(f"{ex.id}: restored the stub {path.relative_to(manifest.root)}")
