"""Reading back a management pack already in the output folder."""

from __future__ import annotations

import pytest

from servicemap_sync.errors import PublishError
from servicemap_sync.publish import read_published

PACK = (
    '<?xml version="1.0" encoding="utf-8"?>'
    '<ManagementPack ContentReadable="true" SchemaVersion="2.0">'
    "<Manifest><Identity><ID>Contoso.SvcMapDA.web01</ID><Version>1.0.0.7</Version></Identity>"
    "<Name>web01</Name><References><Reference Alias=\"System\"><ID>System.Library</ID>"
    "<Version>7.5.8501.0</Version></Reference></References></Manifest></ManagementPack>"
)


def test_a_missing_file_is_none(tmp_path):
    assert read_published(tmp_path / "nothing.xml") is None


def test_identity_is_read_and_bytes_kept(tmp_path):
    path = tmp_path / "Contoso.SvcMapDA.web01.xml"
    path.write_bytes(b"\xef\xbb\xbf" + PACK.encode())  # SCOM's own exports start with a BOM
    pack = read_published(path)
    assert (pack.mp_id, pack.version, pack.path) == ("Contoso.SvcMapDA.web01", "1.0.0.7", path)
    assert pack.xml == path.read_bytes()


@pytest.mark.parametrize(
    ("content", "match"),
    [
        ("<ManagementPack><Manifest>", "not well-formed XML"),
        (PACK.replace("<Version>1.0.0.7</Version></Identity>", "</Identity>"), "no valid Manifest/Identity/Version"),
        (PACK.replace("1.0.0.7", "1.0.7"), r"no valid Manifest/Identity/Version \('1.0.7'\)"),
    ],
)
def test_an_unusable_file_says_to_move_it_away(tmp_path, content, match):
    path = tmp_path / "X.xml"
    path.write_text(content)
    with pytest.raises(PublishError, match=match) as caught:
        read_published(path)
    assert "move it away" in str(caught.value) and str(path) in str(caught.value)
