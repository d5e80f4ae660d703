"""What the reference-implementation peers (uftp_agr_peer.py, uftp_dso_peer.py) share: JSON
lines on stdout, the line describing a received message, a send through the reference client
reported with its HTTP status, and the lookups of the one counterparty they know."""
import json
import sys
import threading

from shapeshifter_uftp.exceptions import ClientTransportException

_lock = threading.Lock()


def emit(line):
    # One write per line: print() writes the text and its newline apart, and uvicorn's access
    # log shares stdout, so a line could be split by another thread's output and lost.
    with _lock:
        sys.stdout.write(json.dumps(line) + "\n")
        sys.stdout.flush()


def describe(message):
    """The line for a received message; each response names the message it answers in its own
    attribute (d_prognosis_message_id, …), reported as referenced_message_id."""
    result = getattr(message, "result", None)
    return {"type": type(message).__name__, "result": getattr(result, "value", result),
            "rejection_reason": getattr(message, "rejection_reason", None),
            "referenced_message_id": next((value for name, value in vars(message).items()
                                           if name.endswith("_message_id") and name != "message_id"), None),
            "message_id": message.message_id, "conversation_id": message.conversation_id,
            "sender_domain": message.sender_domain, "version": message.version}


def send(name, method, message, **extra):
    """Sends through the reference client; emits {name: MESSAGE_ID, "status": HTTP_STATUS, …}."""
    try:
        method(message)
        status = 200
    except ClientTransportException as error:
        status = error.response.status_code
    emit({name: message.message_id, "conversation_id": message.conversation_id, "status": status, **extra})


def lookups(domain, public_key, endpoint):
    """The key and endpoint lookups of a service that knows one participant."""
    return (lambda asked, role: public_key if asked == domain else None,
            lambda asked, role: endpoint if asked == domain else None)
