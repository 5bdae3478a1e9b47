import hashlib
import http.server
import threading
from functools import partial

import pytest

from seqlm.data import download as dl
from seqlm.data import load_corpus
from seqlm.io import SeqlmError


@pytest.fixture
def server(tmp_path):
    root = tmp_path / "www"
    root.mkdir()
    handler = partial(http.server.SimpleHTTPRequestHandler, directory=str(root))
    handler.log_message = lambda *a: None
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield root, f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()


def remote(url, content: bytes, **kw):
    return dl.RemoteFile("f.txt", url, **kw)


def test_download_verifies_sha256(server, tmp_path):
    root, base = server
    content = b"hello world\n" * 1000
    (root / "f.txt").write_bytes(content)
    good = dl.RemoteFile("f.txt", f"{base}/f.txt", hashlib.sha256(content).hexdigest())
    assert dl.download(good, tmp_path / "out" / "f.txt").read_bytes() == content


def test_checksum_mismatch_is_refused_and_leaves_nothing(server, tmp_path):
    root, base = server
    (root / "f.txt").write_bytes(b"tampered\n")
    bad = dl.RemoteFile("f.txt", f"{base}/f.txt", "0" * 64)
    with pytest.raises(SeqlmError, match="checksum mismatch"):
        dl.download(bad, tmp_path / "out" / "f.txt")
    assert list((tmp_path / "out").iterdir()) == []


def test_git_blob_id_verification(server, tmp_path):
    root, base = server
    content = b"a b c\n"
    (root / "f.txt").write_bytes(content)
    blob = hashlib.sha1(b"blob %d\0" % len(content) + content).hexdigest()
    ok = dl.RemoteFile("f.txt", f"{base}/f.txt", git_blob_sha1=blob)
    assert dl.download(ok, tmp_path / "f.txt").exists()


def test_failed_download_is_one_error(server, tmp_path):
    _, base = server
    missing = dl.RemoteFile("f.txt", f"{base}/nope.txt", "0" * 64)
    with pytest.raises(SeqlmError, match="download of .* failed"):
        dl.download(missing, tmp_path / "f.txt")
    assert not (tmp_path / "f.txt").exists()


def test_named_dataset_is_fetched_into_the_data_dir(server, tmp_path, monkeypatch):
    root, base = server
    files = []
    for split, text in [("train", b"a b a\n"), ("valid", b"a\n"), ("test", b"b\n")]:
        (root / f"{split}.txt").write_bytes(text)
        digest = hashlib.sha256(text).hexdigest()
        files.append(dl.RemoteFile(f"{split}.txt", f"{base}/{split}.txt", digest))
    monkeypatch.setitem(dl.DATASETS, "tiny", dl.Dataset("tiny", "word", tuple(files)))
    monkeypatch.setattr("seqlm.data.corpus.DATASETS", dl.DATASETS)
    monkeypatch.setenv("SEQLM_DATA", str(tmp_path / "data"))
    corpus = load_corpus("tiny")
    assert corpus.vocab.tokens[0] == "a"
    assert (tmp_path / "data" / "tiny" / "train.txt").read_bytes() == b"a b a\n"
