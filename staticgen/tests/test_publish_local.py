"""Publishing to the local CDN folder: content, skipping unchanged files, deletions, atomicity."""

import json
import os
import threading

import pytest

from staticgen import services
from staticgen.models import PublishRun
from staticgen.storage import MANIFEST, CdnWriter

pytestmark = pytest.mark.django_db

ONLY = ["test/*"]


def test_publish_writes_every_file_with_its_rendered_content(catalog, cdn_root):
    result = services.publish(targets=ONLY)

    assert sorted(result.written) == [
        "test/feed.xml",
        "test/items/1.json",
        "test/items/2.json",
        "test/items/3.json",
        "test/page.html",
    ]
    assert (cdn_root / "test/items/2.json").read_bytes() == b'{"id":2,"name":"two"}'
    assert (cdn_root / "test/page.html").read_text() == "<!doctype html><p>hello</p>"
    assert oct((cdn_root / "test/page.html").stat().st_mode & 0o777) == "0o644"
    manifest = json.loads((cdn_root / MANIFEST).read_bytes())["files"]
    assert manifest["test/feed.xml"]["cache_control"] == "public, max-age=7"
    assert manifest["test/items/1.json"]["content_type"] == "application/json"
    assert result.bytes_written == sum(m["size"] for m in manifest.values())
    # no temp files left behind
    assert not [p for p in cdn_root.rglob(".tmp-*")]


def test_second_publish_skips_unchanged_files(catalog, cdn_root):
    services.publish(targets=ONLY)
    mtime = (cdn_root / "test/items/1.json").stat().st_mtime_ns

    result = services.publish(targets=ONLY)

    assert result.written == [] and result.deleted == []
    assert result.unchanged == 5
    assert (cdn_root / "test/items/1.json").stat().st_mtime_ns == mtime


def test_changed_output_is_rewritten_and_a_removed_one_deleted(catalog, cdn_root):
    services.publish(targets=ONLY)
    catalog.items[1] = "uno"
    del catalog.items[3]

    result = services.publish(targets=ONLY)

    assert result.written == ["test/items/1.json"]
    assert result.deleted == ["test/items/3.json"]
    assert not (cdn_root / "test/items/3.json").exists()
    assert b"uno" in (cdn_root / "test/items/1.json").read_bytes()
    assert "test/items/3.json" not in json.loads((cdn_root / MANIFEST).read_bytes())["files"]


def test_targeted_path_whose_output_is_gone_is_deleted(catalog, cdn_root):
    services.publish(targets=ONLY)
    del catalog.items[2]

    result = services.publish(targets=["test/items/2.json"])

    assert result.deleted == ["test/items/2.json"]
    assert not (cdn_root / "test/items/2.json").exists()
    assert (cdn_root / "test/items/1.json").exists()


def test_only_pattern_leaves_other_outputs_alone(catalog, cdn_root):
    services.publish(targets=ONLY)
    catalog.items = {1: "x"}

    result = services.publish(targets=["test/page.html"])

    assert result.unchanged == 1 and result.deleted == []
    assert (cdn_root / "test/items/2.json").exists()


def test_dry_run_writes_and_deletes_nothing(catalog, cdn_root):
    result = services.publish(targets=ONLY, dry_run=True)

    assert len(result.written) == 5 and result.dry_run
    assert not (cdn_root / "test").exists()
    assert not PublishRun.objects.exists()


def test_file_removed_by_hand_is_put_back(catalog, cdn_root):
    services.publish(targets=ONLY)
    (cdn_root / "test/page.html").unlink()

    result = services.publish(targets=ONLY)

    assert result.written == ["test/page.html"]
    assert (cdn_root / "test/page.html").exists()


def test_render_failure_keeps_the_last_good_file_and_marks_the_run_failed(catalog, cdn_root):
    services.publish(targets=ONLY)
    catalog.fail.add(2)
    catalog.items[2] = "changed"

    result = services.publish(targets=ONLY)

    assert list(result.failed) == ["test/items/2.json"]
    assert (cdn_root / "test/items/2.json").read_bytes() == b'{"id":2,"name":"two"}'
    run = PublishRun.objects.get(pk=result.run_id)
    assert run.status == PublishRun.Status.FAILED
    assert "boom 2" in run.error and run.failed == 1 and run.unchanged == 4


def test_publish_run_records_counts(catalog):
    result = services.publish(targets=ONLY)

    run = PublishRun.objects.get(pk=result.run_id)
    assert run.status == PublishRun.Status.OK
    assert (run.written, run.unchanged, run.deleted, run.failed) == (5, 0, 0, 0)
    assert run.bytes_written == result.bytes_written and run.finished_at is not None
    assert run.targets == "test/*"


def test_readers_never_see_half_a_file(cdn_root):
    """A reader hammering the file while it is rewritten sees either the old or the new body."""
    writer = CdnWriter()
    bodies = [b"a" * 2_000_000, b"b" * 1_500_000]
    writer.write("big.json", bodies[0], content_type="application/json", cache_control="x")
    stop = threading.Event()
    seen: set[bytes] = set()
    bad: list[int] = []

    def reader():
        path = cdn_root / "big.json"
        while not stop.is_set():
            data = path.read_bytes()
            if data not in bodies:
                bad.append(len(data))
            seen.add(data[:1])

    threads = [threading.Thread(target=reader) for _ in range(2)]
    for t in threads:
        t.start()
    for i in range(40):
        writer.write("big.json", bodies[i % 2], content_type="application/json", cache_control="x")
    stop.set()
    for t in threads:
        t.join()

    assert bad == []
    assert seen == {b"a", b"b"}
    assert [p.name for p in cdn_root.iterdir()] == ["big.json"]


def test_unreadable_manifest_means_everything_is_rewritten(catalog, cdn_root):
    services.publish(targets=ONLY)
    (cdn_root / MANIFEST).write_text("not json")

    result = services.publish(targets=ONLY)

    assert len(result.written) == 5
    assert json.loads((cdn_root / MANIFEST).read_text())["version"] == 1
    assert os.path.getsize(cdn_root / MANIFEST) > 0
