"""`manage.py staticgen publish | list | verify`."""

import io

import pytest
from django.core.management import CommandError, call_command

pytestmark = pytest.mark.django_db


def run(*args) -> str:
    out = io.StringIO()
    call_command("staticgen", *args, stdout=out, stderr=out)
    return out.getvalue()


def test_publish_prints_progress_and_a_summary(catalog, cdn_root):
    out = run("publish", "--only", "test/*")

    assert "publish 5/5" in out
    assert "written 5, unchanged 0, deleted 0, failed 0" in out
    assert " bytes, " in out and out.rstrip().endswith("s")
    assert (cdn_root / "test/page.html").exists()


def test_publish_dry_run_writes_nothing(catalog, cdn_root):
    out = run("publish", "--only", "test/items/{id}.json", "--dry-run")

    assert "would write 3" in out
    assert not (cdn_root / "test").exists()


def test_publish_with_an_unknown_pattern_is_an_error(catalog):
    with pytest.raises(CommandError, match="nothing matches"):
        run("publish", "--only", "nope/*")


def test_publish_of_an_unknown_path_fails_clearly(catalog):
    with pytest.raises(CommandError, match="failed"):
        run("publish", "--only", "no-such-file.json")


def test_publish_with_a_failing_render_exits_non_zero(catalog):
    catalog.fail.add(1)
    with pytest.raises(CommandError, match="1 output"):
        run("publish", "--only", "test/*")


def test_list_shows_outputs_with_counts_and_paths(catalog):
    out = run("list", "--paths")

    assert "test/items/{id}.json" in out and "3 file(s)" in out
    assert "    test/items/2.json" in out
    assert "public, max-age=7" in out


def test_verify_passes_after_publish_and_fails_on_drift(catalog, cdn_root):
    run("publish", "--only", "test/*")
    assert "5 identical" in run("verify", "--only", "test/*")

    (cdn_root / "test/items/1.json").write_text("tampered")
    (cdn_root / "test/page.html").unlink()
    out = io.StringIO()
    with pytest.raises(CommandError, match="differs"):
        call_command("staticgen", "verify", "--only", "test/*", stdout=out, stderr=out)
    assert "MISMATCH test/items/1.json" in out.getvalue()
    assert "MISSING test/page.html" in out.getvalue()


def test_verify_reports_files_of_outputs_that_are_gone(catalog, cdn_root):
    run("publish", "--only", "test/*")
    del catalog.items[2]

    out = io.StringIO()
    with pytest.raises(CommandError):
        call_command("staticgen", "verify", "--only", "test/*", stdout=out, stderr=out)
    assert "STALE test/items/2.json" in out.getvalue()


def test_no_subcommand_is_an_error():
    with pytest.raises(CommandError):
        call_command("staticgen")
