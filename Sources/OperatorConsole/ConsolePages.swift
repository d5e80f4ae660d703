import Certification
import Foundation
import GridCore
import Hummingbird
import Ledger
import Market
import MarketOperations
import PlatformAPI
import ReadingsIngest
import SCD
import Sodium

/// The console's screens: what each shows, gathered from the store, the ingest and the market.
extension Console {
    static let platformRoles: Set<Role> = [.admin, .dso, .marketOperator]
    static let fleetPageSize = 100

    // MARK: Fleet overview

    package struct FleetPage {
        package struct Row {
            package let node: String
            package let pod: String
            package let customer: String?
            package let online: Bool
            package let state: String
            let lastHeard: String
            package let lastSeq: String
            package let certifiedThrough: String
            package let lag: String
            package let gaps: String
        }
        package struct Quarantined {
            package let node: String
            package let pod: String
            package let reason: String
        }
        let chrome: Chrome
        package let total: Int
        package let online: Int
        package let offline: Int
        package let rate: String
        package let lag: String
        package let quarantined: [Quarantined]
        package let rows: [Row]
        package let filters: [Choice]
        package let previous: String?
        package let next: String?
        package let range: String
    }

    package func fleet(_ request: Request, _ context: APIContext) async throws -> Response {
        let session = try session(context)
        let now = Timestamp.now()
        let (nodes, rate) = await ingest.fleet(now: now)
        let query = request.uri.queryParameters
        let filter = query["show"].map(String.init).flatMap { ["offline", "quarantined"].contains($0) ? $0 : nil } ?? "all"
        func online(_ status: Ingest.NodeStatus) -> Bool {
            status.lastMessage.map { now.millisecondsSince1970 - $0.millisecondsSince1970 < Self.onlineWithinMs } ?? false
        }
        let shown = nodes.filter {
            switch filter {
            case "offline": !online($0)
            case "quarantined": $0.quarantine != nil
            default: true
            }
        }
        let page = try query["page"].map { text in
            guard let page = Int(text), Bounds.page.contains(page) else {
                throw Problem(.badRequest, "The page is a number from 0 to \(Bounds.page.upperBound).", field: "page")
            }
            return page
        } ?? 0
        let slice = shown.dropFirst(page * Self.fleetPageSize).prefix(Self.fleetPageSize)
        var pods: [String: PODRecord] = [:]
        for status in slice where pods[status.node.pod] == nil { pods[status.node.pod] = try await store.pod(status.node.pod) }
        let oldest = nodes.compactMap(\.uncertifiedSince).min()
        let onlineCount = nodes.filter(online).count
        func link(_ page: Int) -> String { "/console/fleet?show=\(filter)&page=\(page)" }
        let rows = slice.map { status in
            let isOnline = online(status)
            return FleetPage.Row(
                node: status.node.id, pod: status.node.pod, customer: pods[status.node.pod]?.customer, online: isOnline,
                state: status.quarantine != nil ? "quarantined" : isOnline ? "online" : "offline",
                lastHeard: status.lastMessage.map { "\(Units.duration(ms: now.millisecondsSince1970 - $0.millisecondsSince1970)) ago" } ?? "not since start",
                lastSeq: status.lastSeq.map { Units.grouped(Double($0)) } ?? "—",
                certifiedThrough: status.certifiedThrough.map { Units.grouped(Double($0)) } ?? "—",
                lag: status.uncertifiedSince.map { Units.duration(ms: now.millisecondsSince1970 - $0.millisecondsSince1970) } ?? "none",
                gaps: status.gaps.isEmpty ? "none" : status.gaps.prefix(3).map { "\($0.lowerBound)–\($0.upperBound)" }.joined(separator: ", ")
                    + (status.gaps.count > 3 ? " …" : ""))
        }
        let first = page * Self.fleetPageSize
        return html(render("fleet", FleetPage(
            chrome: chrome(session, "Fleet", "fleet"), total: nodes.count, online: onlineCount, offline: nodes.count - onlineCount,
            rate: "\(Units.grouped(rate)) readings/s",
            lag: oldest.map { Units.duration(ms: now.millisecondsSince1970 - $0.millisecondsSince1970) } ?? "none",
            quarantined: nodes.compactMap { status in status.quarantine.map { .init(node: status.node.id, pod: status.node.pod, reason: $0) } },
            rows: Array(rows),
            filters: [("all", "all"), ("offline", "offline only"), ("quarantined", "quarantined only")].map {
                .init(value: $0.0, label: $0.1, selected: $0.0 == filter)
            }, previous: page > 0 ? link(page - 1) : nil,
            next: shown.count > first + Self.fleetPageSize ? link(page + 1) : nil,
            range: shown.isEmpty ? "" : "\(first + 1)–\(first + rows.count) of \(shown.count)")))
    }

    // MARK: Light Node detail

    package struct NodePage {
        package struct Gap {
            package let from: String
            package let until: String
            package let length: String
        }
        package struct SetPointRow {
            package let order: String
            package let isp: Int
            package let span: String
            package let mode: String
            package let watts: String
            package let status: String
            package let reason: String?
            package let seq: String
        }
        let chrome: Chrome
        package let node: String
        package let pod: String
        package let customer: String?
        package let congestionPoint: String?
        package let aggregator: String?
        package let meter: String
        package let quarantine: String?
        package let day: String
        let previousDay: String?
        let nextDay: String?
        package let readings: String
        package let certified: String
        package let chart: String?
        package let minimum: String
        package let maximum: String
        package let gaps: [Gap]
        /// Gaps beyond those listed (nil: none; Mustache takes 0 as true).
        let moreGaps: Int?
        package let lastSeq: String
        package let certifiedThrough: String
        package let setPoints: [SetPointRow]
        package struct ReportRow {
            package let setPoint: String
            package let order: String?
            package let span: String
            package let mode: String
            package let watts: String
            package let samples: Int
            package let coverage: String
            package let mean: String
            package let followed: String
            package let deviation: String
            package let seq: String
        }
        package let reports: [ReportRow]
        let proofSeq: String
    }

    package func node(_ request: Request, _ context: APIContext) async throws -> Response {
        let session = try session(context)
        let id = try context.parameters.require("node")
        guard let node = try await store.node(id) else { throw Problem(.notFound, "There is no Light Node \"\(id)\".") }
        let calendar = market.calendar
        let day = request.uri.queryParameters["day"].map(String.init) ?? calendar.day(of: Timestamp.now())
        guard let start = calendar.start(of: day), let end = calendar.day(after: day).flatMap(calendar.start(of:)) else {
            throw Problem(.badRequest, "day must be a date YYYY-MM-DD")
        }
        let from = start
        let to = end
        let entries = try await store.entries(node: node.id, from: from, to: to)
        let readings = RawReading.of(entries, meter: node.meter)
        let points = readings.compactMap { item in item.reading.activePower.map { (t: item.reading.time.millisecondsSince1970, w: $0) } }
        // A silence of more than two and a half intervals is a gap (one reading missed is not).
        var gaps: [(Int64, Int64)] = []
        var previous = from.millisecondsSince1970
        let horizon = min(to.millisecondsSince1970, Timestamp.now().millisecondsSince1970)
        for reading in readings.map({ $0.reading.time.millisecondsSince1970 }) + [horizon] {
            if reading - previous > readingIntervalMs * 5 / 2 { gaps.append((previous, reading)) }
            previous = max(previous, reading)
        }
        let status = await ingest.status(of: node.id)
        let pod = try await store.pod(node.pod)
        let orders = try await market.orders(day: day, pod: node.pod)
        let setPoints = orders.flatMap { order in order.setPoints.filter { $0.pod == node.pod }.map { (order.id, $0) } }
        let orderOfSetPoint = Dictionary(setPoints.map { ($0.1.id, $0.0) }, uniquingKeysWith: { first, _ in first })
        let decoder = JSONDecoder()
        let reports = entries.filter { $0.fields.kind == "setpoint-report" }.compactMap { entry in
            (try? decoder.decode(SetPointReportBody.self, from: Data(entry.body))).map { (entry.seq, $0) }
        }
        let time = self.time
        let lowest = points.lazy.map(\.w).min(), highest = points.lazy.map(\.w).max()
        let chart = lowest.flatMap { lowest in highest.map { highest in
            PowerChart(from: from.millisecondsSince1970, to: to.millisecondsSince1970, time: time)
                .svg(points, lowest: lowest, highest: highest, gaps: gaps, title: "Active power of \(node.pod) on \(day)")
        } }
        return html(render("node", NodePage(
            chrome: chrome(session, "Light Node \(node.id)", "fleet"), node: node.id, pod: node.pod, customer: pod?.customer,
            congestionPoint: pod?.congestionPoint, aggregator: pod?.aggregator, meter: node.meter, quarantine: status?.quarantine ?? node.quarantine,
            day: day, previousDay: calendar.day(after: day, by: -1), nextDay: calendar.day(after: day),
            readings: Units.grouped(Double(readings.count)), certified: Units.grouped(Double(readings.filter(\.certified).count)),
            chart: chart, minimum: lowest.map(Units.watts) ?? "—", maximum: highest.map(Units.watts) ?? "—",
            gaps: gaps.prefix(50).map { .init(from: time.shown(Timestamp(millisecondsSince1970: $0.0)),
                                              until: time.shown(Timestamp(millisecondsSince1970: $0.1)),
                                              length: Units.duration(ms: $0.1 - $0.0)) },
            moreGaps: gaps.count > 50 ? gaps.count - 50 : nil,
            lastSeq: status?.lastSeq.map { Units.grouped(Double($0)) } ?? "—",
            certifiedThrough: status?.certifiedThrough.map { Units.grouped(Double($0)) } ?? "—",
            setPoints: setPoints.map { order, point in
                .init(order: order, isp: point.isp, span: "\(time.shown(rfc3339: point.from))–\(time.shown(rfc3339: point.until))", mode: point.mode,
                      watts: point.w.map { Units.watts(Double($0)) } ?? "—", status: point.status.rawValue, reason: point.reason,
                      seq: point.seq.map(String.init) ?? "—")
            },
            reports: reports.map { seq, report in
                .init(setPoint: report.id, order: orderOfSetPoint[report.id],
                      span: "\(time.shown(rfc3339: report.from))–\(time.shown(rfc3339: report.until))", mode: report.mode,
                      watts: Units.watts(Double(report.w)), samples: report.n, coverage: "\(Int((report.coverage * 100).rounded())) %",
                      mean: report.meanW.map(Units.watts) ?? "—", followed: report.verdict,
                      deviation: report.deviationWh.map { Units.wattHours($0) } ?? "—", seq: String(seq))
            },
            proofSeq: readings.last(where: \.certified).map { String($0.seq) } ?? "")))
    }

    /// A `setpoint-report` ledger entry (docs/setpoints.md): how far the site followed a set-point.
    package struct SetPointReportBody: Decodable {
        package let id: String
        package let from: String
        package let until: String
        package let mode: String
        package let w: Int
        package let n: Int
        package let coverage: Double
        package let meanW: Double?
        package let deviationW: Double?
        package let deviationWh: Double?

        enum CodingKeys: String, CodingKey {
            case id, from, until, mode, w, n, coverage, meanW = "mean_w", deviationW = "deviation_w", deviationWh = "deviation_wh"
        }

        /// The mean deviation in words: 0 is followed; positive is above the instruction.
        package var verdict: String {
            guard let deviationW else { return "no reading in the window" }
            if abs(deviationW) < 0.5 { return "followed" }
            return deviationW > 0 ? "above by \(Units.watts(deviationW)) on average" : "below by \(Units.watts(-deviationW)) on average"
        }
    }

    // MARK: Proof of a reading

    package struct ProofPage {
        package struct Entry {
            package let seq: String
            package let body: String
            package let hash: String
        }
        let chrome: Chrome
        package let node: String
        package let pod: String
        package let seq: String
        package let entries: [Entry]
        package let signature: String
        package let key: String
        package let leaf: String
        package let leafIndex: String
        let treeSize: String
        package let inclusion: [String]
        package let checkpoint: String
        package let api: String
    }

    package func proof(_ context: APIContext) async throws -> Response {
        let session = try session(context)
        let id = try context.parameters.require("node")
        guard let node = try await store.node(id) else { throw Problem(.notFound, "There is no Light Node \"\(id)\".") }
        guard let seq = context.parameters.get("seq").flatMap({ UInt64($0) }), Bounds.seq.contains(seq) else {
            throw Problem(.badRequest, "The reading's number is a ledger seq, 1 to \(Bounds.seq.upperBound).", field: "seq")
        }
        let proof: CertificationLog.ReadingProof
        do {
            proof = try await log.proof(node: node, seq: seq)
        } catch CertificationLog.ProofUnavailable.notSealed {
            throw Problem(.notFound, "Seq \(seq) of \(node.id) is not in a sealed block: not certified yet, or past raw retention.")
        } catch CertificationLog.ProofUnavailable.notCheckpointed {
            throw Problem(.conflict, "Seq \(seq) is sealed but not yet under a signed checkpoint; try again after the next one.")
        }
        guard let tip = proof.entries.last, proof.entries.first?.seq == seq else {
            throw Problem(.notFound, "Seq \(seq) of \(node.id) is not held.")
        }
        return html(render("proof", ProofPage(
            chrome: chrome(session, "Proof of \(node.id) #\(seq)", "fleet"), node: node.id, pod: node.pod, seq: String(seq),
            entries: proof.entries.map { .init(seq: String($0.seq), body: $0.bodyText, hash: Hex.encode($0.hash.bytes)) },
            signature: Base64.encode(tip.signature.bytes), key: proof.key.map { Base64.encode($0.bytes) } ?? "none of the node's keys verifies it",
            leaf: String(decoding: LogLeaf.data(node: node.id, seq: tip.seq, hash: tip.hash), as: UTF8.self),
            leafIndex: String(proof.leafIndex), treeSize: String(proof.checkpoint.size), inclusion: proof.inclusion.map(\.base64),
            checkpoint: proof.checkpoint.note, api: "/api/v1/pods/\(node.pod)/nodes/\(node.id)/readings/\(seq)/proof")))
    }
}
