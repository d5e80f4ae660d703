#!/usr/bin/env python3
"""pymodbus TCP server for interoperability tests: an independent Modbus implementation serving
register values that this script encodes itself (struct), so a decoding test checks the Swift
decoder against a second encoder as well as a second protocol stack.

    modbus_peer.py --port N [--unit 1] --registers JSON

JSON: a list of {"function": "input"|"holding", "address": PDU address, "type": "int16"…"float64",
"word_order": "big"|"little", "scale": s, "offset": o, "value": engineering value}.
"""
import argparse
import json
import struct

from pymodbus.datastore import ModbusDeviceContext, ModbusSequentialDataBlock, ModbusServerContext
from pymodbus.server import StartTcpServer

FORMATS = {"int16": ">h", "uint16": ">H", "int32": ">i", "uint32": ">I", "float32": ">f",
           "int64": ">q", "uint64": ">Q", "float64": ">d"}


def encode(register):
    raw = (register["value"] - register.get("offset", 0.0)) / register.get("scale", 1.0)
    fmt = FORMATS[register["type"]]
    if fmt[1] not in "fd":
        raw = int(round(raw))
    packed = struct.pack(fmt, raw)
    words = [int.from_bytes(packed[i:i + 2], "big") for i in range(0, len(packed), 2)]
    if register.get("word_order", "big") == "little":
        words.reverse()
    return words


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--unit", type=int, default=1)
    parser.add_argument("--registers", required=True)
    args = parser.parse_args()
    tables = {"input": [0] * 512, "holding": [0] * 512}
    for register in json.loads(args.registers):
        for offset, word in enumerate(encode(register)):
            tables[register["function"]][register["address"] + offset] = word
    # ModbusSequentialDataBlock(1, values): values[i] answers PDU address i (pymodbus adds 1).
    device = ModbusDeviceContext(ir=ModbusSequentialDataBlock(1, tables["input"]),
                                 hr=ModbusSequentialDataBlock(1, tables["holding"]))
    context = ModbusServerContext(devices={args.unit: device}, single=False)
    StartTcpServer(context=context, address=("127.0.0.1", args.port))


if __name__ == "__main__":
    main()
