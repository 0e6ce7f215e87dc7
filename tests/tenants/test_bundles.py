"""Unpacking refuses unsafe archives; the cache verifies entries by hash and stays bounded."""

from __future__ import annotations

import io
import os
import stat
import zipfile
from pathlib import Path

import pytest

from tenantflow.tenants import BundleCache, BundleCorruptError, BundleLimits, InvalidBundleError
from tenantflow.tenants.bundles import detect_kind, sha256_hex, unpack

LIMITS = BundleLimits(max_files=50, max_unpacked_bytes=1024 * 1024, max_ratio=100)
MAIN = b"def run(event, step):\n    return event\n"


def make_zip(files: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in files.items():
            info = zipfile.ZipInfo(name)
            info.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(info, data)
    return buf.getvalue()


def test_single_file_and_zip_unpack(tmp_path: Path) -> None:
    unpack(MAIN, "py", tmp_path / "a", LIMITS)
    assert (tmp_path / "a" / "main.py").read_bytes() == MAIN
    data = make_zip({"main.py": MAIN, "lib/helper.py": b"X = 1\n", "lib/__pycache__/x.pyc": b"\0"})
    assert detect_kind(data) == "zip"
    unpack(data, "zip", tmp_path / "b", LIMITS)
    assert (tmp_path / "b" / "lib" / "helper.py").read_text() == "X = 1\n"
    assert not (tmp_path / "b" / "lib" / "__pycache__").exists()


@pytest.mark.parametrize(
    ("files", "message"),
    [
        ({"main.py": MAIN, "../evil.py": b"x"}, "path traversal"),
        ({"main.py": MAIN, "a/../../evil.py": b"x"}, "path traversal"),
        ({"main.py": MAIN, "/etc/evil.py": b"x"}, "unsafe path"),
        ({"main.py": MAIN, "c:/evil.py": b"x"}, "unsafe path"),
        ({"main.py": MAIN, "a\\..\\evil.py": b"x"}, "unsafe path"),
        ({"main.py": MAIN, "fast.so": b"\x7fELF"}, "native code"),
        ({"other.py": MAIN}, "no main.py"),
        ({"main.py": b"def run(e, s):\n    return '\xff'\n"}, "not UTF-8"),
        ({"main.py": MAIN, "bomb.txt": b"\0" * (2 * 1024 * 1024)}, "zip bomb"),
    ],
)
def test_unsafe_zips_are_refused(tmp_path: Path, files: dict[str, bytes], message: str) -> None:
    with pytest.raises(InvalidBundleError, match=message):
        unpack(make_zip(files), "zip", tmp_path / "x", LIMITS)
    assert not (tmp_path / "evil.py").exists()


def test_high_ratio_member_is_refused_even_under_the_size_cap(tmp_path: Path) -> None:
    limits = BundleLimits(max_files=50, max_unpacked_bytes=64 * 1024 * 1024, max_ratio=100)
    data = make_zip({"main.py": MAIN, "zeros.bin": b"\0" * (8 * 1024 * 1024)})
    with pytest.raises(InvalidBundleError, match="expands"):
        unpack(data, "zip", tmp_path / "x", limits)


def test_lying_headers_are_caught_while_unpacking(tmp_path: Path) -> None:
    # Declared size says 10 bytes; the stream inflates to far more. Counting bytes catches it.
    big = b"A" * (3 * 1024 * 1024)
    data = bytearray(make_zip({"main.py": MAIN, "big.txt": big}))
    index = data.rfind(b"big.txt")  # central directory entry name
    header = index - 46
    assert data[header : header + 4] == b"PK\x01\x02"
    data[header + 24 : header + 28] = (10).to_bytes(4, "little")
    with pytest.raises(InvalidBundleError):
        unpack(bytes(data), "zip", tmp_path / "x", LIMITS)


def test_symlinks_and_too_many_files_and_cp437_names(tmp_path: Path) -> None:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("main.py", MAIN)
        link = zipfile.ZipInfo("link.py")
        link.external_attr = (stat.S_IFLNK | 0o777) << 16
        zf.writestr(link, "/etc/passwd")
    with pytest.raises(InvalidBundleError, match="symbolic link"):
        unpack(buf.getvalue(), "zip", tmp_path / "a", LIMITS)
    many = make_zip({"main.py": MAIN, **{f"m{i}.py": b"" for i in range(60)}})
    with pytest.raises(InvalidBundleError, match="entries"):
        unpack(many, "zip", tmp_path / "b", LIMITS)
    legacy = bytearray(make_zip({"main.py": MAIN, "caf\u00e9.py": b""}))
    # Clear the UTF-8 flag (bit 11) of every header: the name becomes cp437 garbage.
    for sig, offset in ((b"PK\x03\x04", 6), (b"PK\x01\x02", 8)):
        start = 0
        while (start := legacy.find(sig, start)) >= 0:
            flags = int.from_bytes(legacy[start + offset : start + offset + 2], "little")
            legacy[start + offset : start + offset + 2] = (flags & ~0x800).to_bytes(2, "little")
            start += 4
    with pytest.raises(InvalidBundleError, match="not UTF-8"):
        unpack(bytes(legacy), "zip", tmp_path / "c", LIMITS)


def test_non_utf8_source_and_garbage(tmp_path: Path) -> None:
    with pytest.raises(InvalidBundleError, match="not UTF-8 text: byte 0xff at offset 4"):
        unpack(b"x = \xff\n", "py", tmp_path / "a", LIMITS)
    with pytest.raises(InvalidBundleError, match="readable zip"):
        unpack(b"PK\x03\x04garbage", "zip", tmp_path / "b", LIMITS)


def test_cache_verifies_by_hash_and_trims(tmp_path: Path) -> None:
    cache = BundleCache(tmp_path / "cache", max_bytes=1024 * 1024, limits=LIMITS)
    sha = sha256_hex(MAIN)
    with pytest.raises(BundleCorruptError):
        cache.put("0" * 64, MAIN, "py")
    code = cache.put(sha, MAIN, "py")
    assert (code / "main.py").read_bytes() == MAIN
    # Tampering with a cached file is noticed by a fresh process (new cache object).
    (code / "main.py").write_bytes(b"import os\n")
    fresh = BundleCache(tmp_path / "cache", max_bytes=1024 * 1024, limits=LIMITS)
    assert fresh.get(sha) is None
    assert not cache.entry(sha).exists()
    # Trim: old entries beyond the budget go, least recently used first.
    small = BundleCache(tmp_path / "small", max_bytes=1024 * 1024, limits=LIMITS)
    shas = []
    for i in range(3):
        data = MAIN + b"#" * (600 * 1024) + str(i).encode()
        shas.append(sha256_hex(data))
        small.put(shas[-1], data, "py")
        os.utime(small.entry(shas[-1]), (1000 + i, 1000 + i))
    small.trim()
    assert not small.entry(shas[0]).exists()
    assert small.entry(shas[2]).exists()
