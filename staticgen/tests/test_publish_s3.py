"""Publishing to an S3-compatible bucket (moto's threaded server on loopback): objects are
readable over plain HTTP with their Content-Type and Cache-Control; unchanged files are not
uploaded again; gone outputs are deleted."""

import json
import urllib.error
import urllib.request
import uuid

import boto3
import pytest
from moto.server import ThreadedMotoServer
from storages.backends.s3 import S3Storage

from project.testing import free_port
from staticgen import services
from staticgen.storage import MANIFEST

pytestmark = pytest.mark.django_db
CREDS = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing", "region_name": "us-east-1"}


@pytest.fixture(scope="module")
def s3_endpoint():
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    yield f"http://127.0.0.1:{port}"
    server.stop()


@pytest.fixture
def bucket(s3_endpoint):
    name = f"cdn-{uuid.uuid4().hex[:10]}"
    client = boto3.client("s3", endpoint_url=s3_endpoint, **CREDS)
    client.create_bucket(Bucket=name)
    client.put_bucket_policy(
        Bucket=name,
        Policy=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Principal": "*",
                        "Action": "s3:GetObject",
                        "Resource": f"arn:aws:s3:::{name}/*",
                    }
                ],
            }
        ),
    )
    return name


@pytest.fixture
def storage(s3_endpoint, bucket):
    # The same options settings.STORAGES["cdn"] uses when CDN_BUCKET is set.
    return S3Storage(
        bucket_name=bucket,
        endpoint_url=s3_endpoint,
        access_key="testing",
        secret_key="testing",
        region_name="us-east-1",
        default_acl="public-read",
        querystring_auth=False,
        file_overwrite=True,
    )


def http_get(url: str):
    try:
        with urllib.request.urlopen(url, timeout=5) as resp:
            return resp.status, resp.headers, resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers, b""


def test_published_objects_are_served_with_their_content_type_and_cache_control(catalog, storage, s3_endpoint, bucket):
    result = services.publish(targets=["test/*"], storage=storage)
    assert len(result.written) == 5 and result.ok

    status, headers, body = http_get(f"{s3_endpoint}/{bucket}/test/items/1.json")
    assert status == 200
    assert body == b'{"id":1,"name":"one"}'
    assert headers["Content-Type"] == "application/json"
    assert headers["Cache-Control"] == "public, max-age=60, stale-while-revalidate=30"

    status, headers, body = http_get(f"{s3_endpoint}/{bucket}/test/page.html")
    assert (status, headers["Content-Type"]) == (200, "text/html; charset=utf-8")
    assert body == b"<!doctype html><p>hello</p>"

    status, headers, _ = http_get(f"{s3_endpoint}/{bucket}/test/feed.xml")
    assert headers["Content-Type"] == "application/xml; charset=utf-8"
    assert headers["Cache-Control"] == "public, max-age=7"

    status, headers, body = http_get(f"{s3_endpoint}/{bucket}/{MANIFEST}")
    assert status == 200 and headers["Cache-Control"] == "no-cache"
    assert set(json.loads(body)["files"]) == {p for p in result.written}


def test_unchanged_objects_are_not_uploaded_again(catalog, storage, s3_endpoint, bucket):
    services.publish(targets=["test/*"], storage=storage)
    client = boto3.client("s3", endpoint_url=s3_endpoint, **CREDS)
    before = client.head_object(Bucket=bucket, Key="test/items/2.json")["LastModified"]
    catalog.items[1] = "changed"

    result = services.publish(targets=["test/*"], storage=storage)

    assert result.written == ["test/items/1.json"] and result.unchanged == 4
    assert client.head_object(Bucket=bucket, Key="test/items/2.json")["LastModified"] == before
    assert http_get(f"{s3_endpoint}/{bucket}/test/items/1.json")[2] == b'{"id":1,"name":"changed"}'


def test_gone_outputs_are_deleted_from_the_bucket(catalog, storage, s3_endpoint, bucket):
    services.publish(targets=["test/*"], storage=storage)
    del catalog.items[3]

    result = services.publish(targets=["test/*"], storage=storage)

    assert result.deleted == ["test/items/3.json"]
    assert http_get(f"{s3_endpoint}/{bucket}/test/items/3.json")[0] in (403, 404)


def test_verify_reads_back_from_the_bucket(catalog, storage):
    services.publish(targets=["test/*"], storage=storage)
    assert services.verify(targets=["test/*"], storage=storage).passed
    catalog.items[2] = "drifted"

    check = services.verify(targets=["test/*"], storage=storage)

    assert check.mismatched == ["test/items/2.json"] and not check.passed
