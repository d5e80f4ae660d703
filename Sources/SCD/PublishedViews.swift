/// The SCD's published data model (FUSION FR04; docs/data-model.md): read-only SQL views a DSO
/// may extract from, the same names, columns and meanings on SQLite and PostgreSQL. Each backend
/// renders them in its dialect and recreates them at every start, so they always match this list
/// (views hold no data).
public enum PublishedViews {
    public enum ValueType: Sendable {
        case text, integer, decimal, boolean
    }

    public enum Source: Sendable {
        /// A column of the table.
        case column(String)
        /// A value of the row's JSON document (market documents), by its path of keys.
        case document([String], ValueType)
        /// A value of one element of the document's array the view expands.
        case element([String], ValueType)
    }

    public struct Column: Sendable {
        public let name: String
        public let source: Source
    }

    public struct View: Sendable {
        public let name: String
        public let table: String
        /// Market documents of this kind only.
        public let kind: MarketDocument.Kind?
        /// One row per element of this array of the document.
        public let expanding: [String]?
        public let columns: [Column]
    }

    private static func columns(_ pairs: KeyValuePairs<String, Source>) -> [Column] {
        pairs.map { Column(name: $0.key, source: $0.value) }
    }

    public static let all: [View] = [
        View(name: "scd_pods", table: "pods", kind: nil, expanding: nil, columns: columns([
            "pod": .column("id"), "customer": .column("customer"), "connection_ean": .column("connection_ean"),
            "congestion_point": .column("congestion_point"), "aggregator": .column("aggregator"), "brp": .column("brp"),
        ])),
        View(name: "scd_nodes", table: "nodes", kind: nil, expanding: nil, columns: columns([
            "node": .column("id"), "pod": .column("pod"), "meter": .column("meter"), "quarantine": .column("quarantine"),
        ])),
        View(name: "scd_measures", table: "measures", kind: nil, expanding: nil, columns: columns([
            "pod": .column("pod"), "start_ms": .column("start"), "energy_wh": .column("energy_wh"), "average_w": .column("avg_w"),
            "coverage": .column("coverage"), "samples": .column("samples"), "certified": .column("certified"),
        ])),
        View(name: "scd_customer_lists", table: "customer_lists", kind: nil, expanding: nil, columns: columns([
            "day": .column("day"), "pod": .column("pod"), "aggregator": .column("aggregator"),
        ])),
        View(name: "scd_baselines", table: "baselines", kind: nil, expanding: nil, columns: columns([
            "pod": .column("pod"), "day": .column("day"), "brp": .column("brp"),
        ])),
        View(name: "scd_checkpoints", table: "log_checkpoints", kind: nil, expanding: nil, columns: columns([
            "size": .column("size"), "note": .column("note"), "t_ms": .column("t"),
        ])),
        View(name: "scd_congestion_points", table: "cro_congestion_points", kind: nil, expanding: nil, columns: columns([
            "entity_address": .column("entity_address"), "dso": .column("dso"), "first_day": .column("first_day"),
            "last_day": .column("last_day"),
        ])),
        View(name: "scd_connections", table: "cro_connections", kind: nil, expanding: nil, columns: columns([
            "connection": .column("connection"), "kind": .column("kind"), "holder": .column("holder"),
            "first_day": .column("first_day"), "last_day": .column("last_day"),
        ])),
        View(name: "scd_uftp_messages", table: "uftp_messages", kind: nil, expanding: nil, columns: columns([
            "id": .column("id"), "direction": .column("direction"), "type": .column("type"), "message_id": .column("message_id"),
            "conversation_id": .column("conversation_id"), "sender_domain": .column("sender_domain"),
            "sender_role": .column("sender_role"), "recipient_domain": .column("recipient_domain"), "t_ms": .column("t"),
        ])),
        View(name: "scd_requests", table: "market_documents", kind: .request, expanding: nil, columns: columns([
            "id": .column("id"), "day": .column("day"), "session": .document(["session"], .text),
            "buyer": .document(["entry", "buyer"], .text), "participant": .document(["participant"], .text),
            "status": .document(["status"], .text), "round": .document(["round"], .text),
            "price_limit_per_mwh": .document(["entry", "price_limit_per_mwh"], .decimal), "submitted_ms": .document(["submitted"], .integer),
        ])),
        View(name: "scd_offers", table: "market_documents", kind: .offer, expanding: nil, columns: columns([
            "id": .column("id"), "day": .column("day"), "session": .document(["session"], .text),
            "aggregator": .document(["entry", "aggregator"], .text), "location": .document(["entry", "location"], .text),
            "price": .document(["entry", "price"], .decimal), "status": .document(["status"], .text),
            "valid_until": .document(["valid_until"], .text),
        ])),
        View(name: "scd_orders", table: "market_documents", kind: .order, expanding: nil, columns: columns([
            "id": .column("id"), "day": .column("day"), "round": .document(["round"], .text),
            "request": .document(["award", "request"], .text), "offer": .document(["award", "offer"], .text),
            "aggregator": .document(["award", "aggregator"], .text), "location": .document(["award", "location"], .text),
            "price": .document(["award", "price"], .decimal), "placed_by": .document(["placed_by"], .text),
            "created_ms": .document(["created"], .integer),
        ])),
        View(name: "scd_order_setpoints", table: "market_documents", kind: .order, expanding: ["setpoints"], columns: columns([
            "order_id": .column("id"), "day": .column("day"), "pod": .element(["pod"], .text), "node": .element(["node"], .text),
            "isp": .element(["isp"], .integer), "ordered_w": .element(["ordered"], .integer), "baseline_w": .element(["baseline"], .integer),
            "status": .element(["status"], .text), "setpoint": .element(["setpoint"], .text), "reason": .element(["reason"], .text),
        ])),
        View(name: "scd_contracts", table: "market_documents", kind: .contract, expanding: nil, columns: columns([
            "id": .column("id"), "buyer": .document(["contract", "buyer"], .text),
            "aggregator": .document(["contract", "aggregator"], .text),
            "congestion_point": .document(["contract", "congestion_point"], .text),
            "first_day": .document(["contract", "first_day"], .text), "last_day": .document(["contract", "last_day"], .text),
            "first_isp": .document(["contract", "first_isp"], .integer), "last_isp": .document(["contract", "last_isp"], .integer),
            "power_w": .document(["contract", "power_w"], .integer),
            "price_cap_per_mwh": .document(["contract", "price_cap_per_mwh"], .decimal),
            "penalty_per_miss": .document(["contract", "penalty_per_miss"], .decimal),
        ])),
        View(name: "scd_statements", table: "market_documents", kind: .statement, expanding: nil, columns: columns([
            "id": .column("id"), "month": .document(["statement", "month"], .text), "role": .document(["statement", "role"], .text),
            "party": .document(["statement", "party"], .text), "version": .document(["statement", "version"], .integer),
            "issued_ms": .document(["statement", "issued"], .integer), "month_ended": .document(["statement", "month_ended"], .boolean),
            "availability_fees": .document(["statement", "totals", "availability_fees"], .decimal),
            "activation_fees": .document(["statement", "totals", "activation_fees"], .decimal),
            "penalties": .document(["statement", "totals", "penalties"], .decimal),
            "net": .document(["statement", "totals", "net"], .decimal), "flex_settlement": .document(["flex_settlement"], .text),
        ])),
        View(name: "scd_statement_lines", table: "market_documents", kind: .statement, expanding: ["statement", "lines"], columns: columns([
            "statement_id": .column("id"), "kind": .element(["kind"], .text), "reference": .element(["reference"], .text),
            "buyer": .element(["buyer"], .text), "aggregator": .element(["aggregator"], .text), "day": .element(["day"], .text),
            "location": .element(["location"], .text), "delivered_wh": .element(["delivered_wh"], .integer),
            "deficiency_wh": .element(["deficiency_wh"], .integer), "settled": .element(["settled"], .integer),
            "unsettled": .element(["unsettled"], .integer), "fee": .element(["fee"], .decimal),
            "penalty": .element(["penalty"], .decimal), "net": .element(["net"], .decimal),
        ])),
    ]
}

/// How one backend writes a view's parts.
public protocol ViewDialect {
    /// The document of row `d` as JSON, and the value at `path` of `json` as `type`.
    var document: String { get }
    func value(_ json: String, _ path: [String], _ type: PublishedViews.ValueType) -> String
    /// The FROM clause expanding `array` (a path in the document) into rows `e` with `e.value`.
    func expanding(_ table: String, _ array: [String]) -> String
    /// The statements that (re)create a view from its SELECT.
    func create(_ name: String, as select: String) -> [String]
}

extension PublishedViews.View {
    /// This view's statements in `dialect`.
    public func statements(_ dialect: some ViewDialect) -> [String] {
        let selected = columns.map { column -> String in
            let expression = switch column.source {
            case .column(let name): "d.\"\(name)\""
            case .document(let path, let type): dialect.value(dialect.document, path, type)
            case .element(let path, let type): dialect.value("e.value", path, type)
            }
            return "\(expression) AS \"\(column.name)\""
        }
        let from = expanding.map { dialect.expanding(table, $0) } ?? "\(table) d"
        let filter = kind.map { " WHERE d.kind = '\($0.rawValue)'" } ?? ""
        return dialect.create(name, as: "SELECT \(selected.joined(separator: ", ")) FROM \(from)\(filter)")
    }
}
