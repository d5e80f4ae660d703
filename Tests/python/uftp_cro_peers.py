"""The reference implementation's DSO and AGR services (shapeshifter-uftp) using our CRO.

Usage: uftp_cro_peers.py CRO_ENDPOINT CRO_DOMAIN CRO_PUBLIC_B64 DSO_PORT DSO_SECRET_B64 AGR_PORT AGR_SECRET_B64 VERSION
Runs dso.example.com on 127.0.0.1:DSO_PORT and agr.example.com on 127.0.0.1:AGR_PORT, then, one
after another, each waiting for the CRO's response (60 s at most): the DSO declares congestion
point cp-1 with connections c-1 and c-2 from today; the AGR lists c-1 and c-3; the AGR queries
its portfolio for today; the DSO queries cp-1 for today; then the DSO declares c-2 at cp-2
while it is at cp-1, which must be refused. Prints one JSON object: each step's HTTP status
and the response the CRO sent for it (type, result, rejection reason, and the portfolio a query
response carries). Exits 1 if a response does not arrive."""
import json
import os
import logging
import sys
import threading
from datetime import datetime
from uuid import uuid4
from zoneinfo import ZoneInfo

from shapeshifter_uftp import (
    AgrPortfolioQuery, AgrPortfolioUpdate, AgrPortfolioUpdateConnection, DsoPortfolioQuery, DsoPortfolioUpdate,
    DsoPortfolioUpdateCongestionPoint, DsoPortfolioUpdateConnection, ShapeshifterAgrService, ShapeshifterDsoService,
)
from shapeshifter_uftp.exceptions import ClientTransportException

cro_endpoint, cro_domain, cro_public, dso_port, dso_secret, agr_port, agr_secret, version = sys.argv[1:9]
logging.disable(logging.CRITICAL)
today = datetime.now(ZoneInfo("Europe/Amsterdam")).date().isoformat()
zone = "Europe/Amsterdam"


def ea(name):
    return f"ea1.2023-01.com.example.dso:{name}"


responses = {}
arrived = threading.Condition()


def received(message):
    """Keeps a response by the MessageID it answers."""
    reference = next(value for name, value in vars(message).items() if name.endswith("_message_id") and name != "message_id")
    result = getattr(message, "result", None)
    with arrived:
        responses[reference] = {"type": type(message).__name__, "result": getattr(result, "value", result),
                                "rejection_reason": getattr(message, "rejection_reason", None), "message": message}
        arrived.notify_all()


def lookups():
    return dict(key_lookup_function=lambda domain, role: cro_public,
                endpoint_lookup_function=lambda domain, role: cro_endpoint)


class Dso(ShapeshifterDsoService):
    def process_dso_portfolio_update_response(self, message):
        received(message)

    def process_dso_portfolio_query_response(self, message):
        received(message)


class Agr(ShapeshifterAgrService):
    def process_agr_portfolio_update_response(self, message):
        received(message)

    def process_agr_portfolio_query_response(self, message):
        received(message)


# Only the CRO's responses arrive here; the other handlers are never called.
Dso.__abstractmethods__ = frozenset()
Agr.__abstractmethods__ = frozenset()
dso = Dso(sender_domain="dso.example.com", signing_key=dso_secret, host="127.0.0.1", port=int(dso_port), **lookups())
agr = Agr(sender_domain="agr.example.com", signing_key=agr_secret, host="127.0.0.1", port=int(agr_port), **lookups())
dso.run_in_thread()
agr.run_in_thread()


def step(service, method, message):
    """Sends `message` to the CRO and waits for its response."""
    try:
        getattr(service.cro_client(cro_domain, version=version), method)(message)
        status = 200
    except ClientTransportException as error:
        status = error.response.status_code
    with arrived:
        if status == 200 and not arrived.wait_for(lambda: message.message_id in responses, timeout=60):
            print(json.dumps({"error": f"no response to {type(message).__name__} {message.message_id}", **result}), flush=True)
            os._exit(1)
        return {"status": status, **{k: v for k, v in responses.get(message.message_id, {}).items() if k != "message"}}, \
            responses.get(message.message_id, {}).get("message")


def declare(point, connections):
    return DsoPortfolioUpdate(message_id=str(uuid4()), conversation_id=str(uuid4()), time_zone=zone, congestion_points=[
        DsoPortfolioUpdateCongestionPoint(entity_address=ea(point), start_period=today, mutex_offers_supported=False,
                                          day_ahead_redispatch_by="DSO", connections=[
                                              DsoPortfolioUpdateConnection(entity_address=ea(c), start_period=today)
                                              for c in connections])])


result = {}
result["dso_update"], _ = step(dso, "send_dso_portfolio_update", declare("cp-1", ["c-1", "c-2"]))
result["agr_update"], _ = step(agr, "send_agr_portfolio_update", AgrPortfolioUpdate(
    message_id=str(uuid4()), conversation_id=str(uuid4()), time_zone=zone,
    connections=[AgrPortfolioUpdateConnection(entity_address=ea(c), start_period=today) for c in ["c-1", "c-3"]]))
result["agr_query"], answer = step(agr, "send_agr_portfolio_query", AgrPortfolioQuery(
    message_id=str(uuid4()), conversation_id=str(uuid4()), time_zone=zone, period=today))
if answer is not None:
    result["agr_query"]["views"] = [
        {"dsos": [{"domain": p.dso_domain, "congestion_points": [
            {"entity_address": cp.entity_address, "connections": [c.entity_address for c in cp.connections]}
            for cp in p.congestion_points]} for p in view.dso_portfolios],
         "unplaced": [c.entity_address for c in view.connections]} for view in answer.dso_views]
result["dso_query"], answer = step(dso, "send_dso_portfolio_query", DsoPortfolioQuery(
    message_id=str(uuid4()), conversation_id=str(uuid4()), time_zone=zone, period=today, entity_address=ea("cp-1")))
if answer is not None and answer.congestion_point is not None:
    result["dso_query"]["connections"] = [{"entity_address": c.entity_address, "agr_domain": c.agr_domain}
                                          for c in answer.congestion_point.connections]
result["conflict"], _ = step(dso, "send_dso_portfolio_update", declare("cp-2", ["c-2"]))
print(json.dumps(result), flush=True)
# The services' server threads would keep the process alive.
os._exit(0)
