#!/usr/bin/env python3
"""Independent verifier for Light Node ledger exports (ledger contract v1).

Written from docs/ledger-format.md alone, sharing no code with the Swift implementation:
Python's hashlib for SHA-256 and PyNaCl (libsodium) for Ed25519.

    ledger_verify.py EXPORT.jsonl [--key BASE64] [--allow-partial]

Exit 0 and "intact: …" when every line checks; exit 1 and "first bad seq N: reason" otherwise.
"""
import argparse
import base64
import binascii
import hashlib
import json
import sys

import nacl.exceptions
import nacl.signing

DOMAIN = b"LN-LEDGER-1\x00"
ENTRY_KEYS = {"seq", "body", "prev", "hash", "sig"}


def entry_hash(seq: int, prev: bytes, body: bytes) -> bytes:
    return hashlib.sha256(DOMAIN + seq.to_bytes(8, "big") + prev + body).digest()


def strict_b64(text: str) -> bytes:
    return base64.b64decode(text.encode("ascii"), validate=True)


def verify(lines, expected_key=None, allow_partial=False):
    """Returns (ok, message)."""
    try:
        header = json.loads(lines[0])
    except (IndexError, ValueError) as error:
        return False, f"header: not a JSON line ({error})"
    if not isinstance(header, dict) or not {"node", "pod", "key"} <= header.keys():
        return False, "header: needs node, pod and key"
    key_b64 = expected_key or header["key"]
    if expected_key and header["key"] != expected_key:
        return False, f"header: key {header['key']} is not the expected {expected_key}"
    try:
        verify_key = nacl.signing.VerifyKey(strict_b64(key_b64))
    except (ValueError, binascii.Error, nacl.exceptions.ValueError) as error:
        return False, f"header: bad key ({error})"

    expected_seq = None
    prev = bytes(32)
    count = 0
    for number, line in enumerate(lines[1:], start=2):
        if not line.strip():
            continue
        try:
            entry = json.loads(line)
        except ValueError as error:
            return False, f"line {number}: not JSON ({error})"
        if not isinstance(entry, dict) or set(entry.keys()) != ENTRY_KEYS:
            return False, f"line {number}: keys must be exactly {sorted(ENTRY_KEYS)}"
        seq = entry["seq"]
        if not isinstance(seq, int) or seq < 1:
            return False, f"line {number}: bad seq {seq!r}"
        if expected_seq is None:
            if seq != 1 and not allow_partial:
                return False, f"first bad seq 1: missing (export starts at seq {seq})"
            expected_seq = seq
            if seq == 1:
                prev = bytes(32)
            else:
                prev = bytes.fromhex(entry["prev"])  # a partial export is anchored at its first prev
        if seq != expected_seq:
            return False, f"first bad seq {expected_seq}: missing (found seq {seq})"
        try:
            stated_prev = bytes.fromhex(entry["prev"])
            stated_hash = bytes.fromhex(entry["hash"])
            sig = strict_b64(entry["sig"])
        except (ValueError, binascii.Error) as error:
            return False, f"first bad seq {seq}: malformed field ({error})"
        if entry["prev"] != entry["prev"].lower() or entry["hash"] != entry["hash"].lower():
            return False, f"first bad seq {seq}: hex must be lower-case"
        if len(stated_hash) != 32 or len(sig) != 64:
            return False, f"first bad seq {seq}: hash must be 32 bytes and sig 64"
        if stated_prev != prev:
            return False, f"first bad seq {seq}: prev is not the hash of seq {seq - 1}"
        body = entry["body"].encode("utf-8")
        try:
            parsed = json.loads(body)
        except ValueError:
            return False, f"first bad seq {seq}: body is not JSON"
        if not isinstance(parsed, dict) or "t" not in parsed or "k" not in parsed:
            return False, f"first bad seq {seq}: body must be an object with t and k"
        computed = entry_hash(seq, prev, body)
        if computed != stated_hash:
            return False, f"first bad seq {seq}: hash does not match seq, prev and body"
        try:
            verify_key.verify(computed, sig)
        except nacl.exceptions.BadSignatureError:
            return False, f"first bad seq {seq}: signature does not verify"
        prev = computed
        expected_seq = seq + 1
        count += 1
    if count == 0:
        return False, "no entries"
    return True, f"intact: {count} entries, seq {expected_seq - count}..{expected_seq - 1}"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("export")
    parser.add_argument("--key", help="expected base64 public key (default: the header's)")
    parser.add_argument("--allow-partial", action="store_true", help="accept an export not starting at seq 1")
    args = parser.parse_args()
    with open(args.export, encoding="utf-8") as handle:
        lines = handle.read().split("\n")
    ok, message = verify(lines, args.key, args.allow_partial)
    print(message, file=sys.stdout if ok else sys.stderr)
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
