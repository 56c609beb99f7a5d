#!/usr/bin/env python3
"""Seed messages for the `decompose` fuzz target: one message per container
kind and encoding, so the fuzzer starts inside the archive readers instead
of having to discover their magic bytes. Writes fuzz/corpus/decompose/."""
import base64
import binascii
import bz2
import gzip
import io
import pathlib
import tarfile
import zipfile

OUT = pathlib.Path(__file__).resolve().parent / "corpus" / "decompose"


def message(parts):
    body = "".join(f"--b\r\n{headers}\r\n\r\n{content}\r\n" for headers, content in parts)
    return (f"From: a@b.test\r\nSubject: seed\r\nMIME-Version: 1.0\r\n"
            f"Content-Type: multipart/mixed; boundary=b\r\n\r\n{body}--b--\r\n").encode()


def attachment(name, data):
    return (f'Content-Type: application/octet-stream; name="{name}"\r\nContent-Transfer-Encoding: base64',
            base64.encodebytes(data).decode())


def zipped(members, method=zipfile.ZIP_DEFLATED):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", method) as z:
        for name, data in members:
            z.writestr(name, data)
    return buf.getvalue()


def tarred(members):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as t:
        for name, data in members:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            t.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def uuencoded(name, data):
    lines = [binascii.b2a_uu(data[i:i + 45]).decode().rstrip("\n") for i in range(0, len(data), 45)]
    return f"begin 644 {name}\r\n" + "\r\n".join(lines) + "\r\n`\r\nend\r\n"


def main():
    OUT.mkdir(parents=True, exist_ok=True)
    exe = b"MZ" + bytes(range(64))
    inner = zipped([("a.exe", exe), ("b.txt", b"text")])
    encrypted = bytearray(zipped([("s.doc", b"secret")]))
    for sig, at in ((b"PK\x03\x04", 6), (b"PK\x01\x02", 8)):
        i = encrypted.find(sig)
        encrypted[i + at] |= 1
    seeds = {
        "zip": message([attachment("a.zip", inner)]),
        "zip-stored": message([attachment("s.zip", zipped([("x.exe", exe)], zipfile.ZIP_STORED))]),
        "zip-bzip2": message([attachment("b.zip", zipped([("x.exe", exe)], zipfile.ZIP_BZIP2))]),
        "nested-zip": message([attachment("n.zip", zipped([("inner.zip", inner)]))]),
        "tar-gz": message([attachment("t.tgz", gzip.compress(tarred([("d/x.exe", exe)])))]),
        "bzip2": message([attachment("x.exe.bz2", bz2.compress(exe))]),
        "encrypted-zip": message([attachment("e.zip", bytes(encrypted))]),
        "uuencode": message([("Content-Type: text/plain", "see below\r\n" + uuencoded("u.exe", exe))]),
        "rfc822": message([("Content-Type: message/rfc822", message([attachment("in.zip", inner)]).decode())]),
    }
    for name, data in seeds.items():
        (OUT / name).write_bytes(data)
    print(f"{len(seeds)} seeds in {OUT}")


if __name__ == "__main__":
    main()
