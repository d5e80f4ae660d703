#!/usr/bin/env python3
"""Independent verifier for SCD reading proofs (docs/certification-log.md).

Written from the documented format alone, sharing no code with the Swift implementation:
hashlib for SHA-256 and PyNaCl (libsodium) for Ed25519.

    reading_proof_verify.py PROOF.json --log-key NAME+ID+KEY [--node-key BASE64]

Exit 0 and "proven: …" when the reading is proven; exit 1 and the first failed check otherwise.
"""
import argparse
import base64
import hashlib
import json
import sys

import nacl.exceptions
import nacl.signing

DOMAIN = b"LN-LEDGER-1\x00"


def entry_hash(seq, prev, body):
    return hashlib.sha256(DOMAIN + seq.to_bytes(8, "big") + prev + body).digest()


def node_hash(left, right):
    return hashlib.sha256(b"\x01" + left + right).digest()


def verify_inclusion(leaf_hash, index, size, proof, root):
    """RFC 9162 section 2.1.3.2."""
    if index >= size:
        return False
    fn, sn, r = index, size - 1, leaf_hash
    for p in proof:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            if not fn & 1:
                while True:
                    fn >>= 1
                    sn >>= 1
                    if fn & 1 or fn == 0:
                        break
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    return sn == 0 and r == root


def open_note(note, verifier):
    """c2sp.org/signed-note with an Ed25519 verifier key NAME+HEXID+BASE64(0x01||key)."""
    name, key_id_hex, key_b64 = verifier.split("+", 2)  # base64 may hold "+"
    raw = base64.b64decode(key_b64, validate=True)
    if len(raw) != 33 or raw[0] != 1:
        raise ValueError("verifier key is not an Ed25519 key")
    key_id = hashlib.sha256(name.encode() + b"\n" + raw).digest()[:4]
    if key_id.hex() != key_id_hex:
        raise ValueError("verifier key id does not match its key")
    split = note.rindex("\n\n")
    text, signatures = note[: split + 1], note[split + 2:]
    for line in signatures.splitlines():
        if not line.startswith("\u2014 "):
            raise ValueError(f"not a signature line: {line!r}")
        signer, blob = line[2:].split(" ")
        blob = base64.b64decode(blob, validate=True)
        if signer == name and blob[:4] == key_id:
            nacl.signing.VerifyKey(raw[1:]).verify(text.encode(), blob[4:])
            return text
    raise ValueError(f"no signature by {name}")


def verify(proof, log_key, node_key=None):
    entries = proof["entries"]
    if not entries or entries[0]["seq"] != proof["seq"]:
        return False, "the entries do not start at the reading"
    prev_hash = None
    for entry in entries:
        body = entry["body"].encode()
        prev = bytes.fromhex(entry["prev"])
        if prev_hash is not None and prev != prev_hash:
            return False, f"seq {entry['seq']} does not link to the entry before it"
        computed = entry_hash(entry["seq"], prev, body)
        if computed.hex() != entry["hash"]:
            return False, f"hash of seq {entry['seq']} does not match its body"
        if prev_hash is not None and entry["seq"] != expected_seq:
            return False, f"seq {entry['seq']} is not consecutive"
        prev_hash, expected_seq = computed, entry["seq"] + 1
    tip = entries[-1]
    key_b64 = node_key or proof["key"]
    if node_key and proof.get("key") != node_key:
        return False, "the proof names another node key"
    try:
        nacl.signing.VerifyKey(base64.b64decode(key_b64, validate=True)).verify(
            bytes.fromhex(tip["hash"]), base64.b64decode(tip["sig"], validate=True))
    except nacl.exceptions.BadSignatureError:
        return False, f"signature of seq {tip['seq']} does not verify under the node key"
    leaf = f"{proof['node']} {tip['seq']} {tip['hash']}\n"
    if proof["leaf"] != leaf:
        return False, "the leaf is not the tip of the entries"
    try:
        text = open_note(proof["checkpoint"], log_key)
    except (ValueError, nacl.exceptions.BadSignatureError) as error:
        return False, f"checkpoint: {error}"
    lines = text.split("\n")
    origin, size, root = lines[0], int(lines[1]), base64.b64decode(lines[2], validate=True)
    if size != proof["tree_size"]:
        return False, "the checkpoint is of another tree size"
    leaf_hash = hashlib.sha256(b"\x00" + leaf.encode()).digest()
    path = [base64.b64decode(h, validate=True) for h in proof["inclusion"]]
    if not verify_inclusion(leaf_hash, proof["leaf_index"], size, path, root):
        return False, "the inclusion proof does not lead to the checkpoint's root"
    return True, f"proven: {proof['node']} seq {proof['seq']} under {origin} tree size {size}"


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("proof")
    parser.add_argument("--log-key", required=True)
    parser.add_argument("--node-key")
    args = parser.parse_args()
    with open(args.proof, encoding="utf-8") as handle:
        proof = json.load(handle)
    try:
        ok, message = verify(proof, args.log_key.strip(), args.node_key)
    except (KeyError, TypeError, ValueError) as error:
        ok, message = False, f"malformed proof: {error!r}"
    print(message)
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
