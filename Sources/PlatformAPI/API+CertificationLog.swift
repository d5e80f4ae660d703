import Certification
import Foundation
import GridCore
import Hummingbird
import Ledger
import MarketOperations
import Prometheus
import ReadingsIngest
import SCD
import Sodium
import UFTP
import UFTPGateway

// MARK: Certification log
extension API {
    func checkpoint() async throws -> Response {
        guard let head = try await store.checkpoint(size: nil) else {
            throw Problem(.notFound, "the certification log has no checkpoint yet")
        }
        return text(head.note)
    }

    func consistency(_ request: Request) async throws -> Response {
        let query = request.uri.queryParameters
        guard let first = query["first"].flatMap({ UInt64($0) }), first >= 1 else {
            throw Problem(.badRequest, "first must be a tree size ≥ 1", field: "first")
        }
        guard let second = query["second"].flatMap({ UInt64($0) }), second >= first else {
            throw Problem(.badRequest, "second must be a tree size ≥ first", field: "second")
        }
        guard let head = try await store.checkpoint(size: nil), second <= head.size else {
            throw Problem(.badRequest, "second is beyond the newest checkpoint", field: "second")
        }
        let proof = try await log.consistencyProof(from: first, to: second)
        var writer = JSONObjectWriter()
        writer.integer("first", Int64(first))
        writer.integer("second", Int64(second))
        writer.stringArray("proof", proof.map(\.base64))
        return rawJSON(writer.finish())
    }

    func readingProof(_ context: APIContext) async throws -> Response {
        let pod = try await visiblePOD(context)
        let nodeID = try context.parameters.require("node")
        guard let seq = context.parameters.get("seq").flatMap({ UInt64($0) }), Bounds.seq.contains(seq) else {
            throw Problem(.badRequest, "seq must be a ledger sequence number from 1 to \(Bounds.seq.upperBound)", field: "seq")
        }
        guard let node = try await store.node(nodeID), node.pod == pod.id else {
            throw Problem(.notFound, "no node \"\(nodeID)\" on POD \(pod.id)", field: "node")
        }
        let proof: CertificationLog.ReadingProof
        do {
            proof = try await log.proof(node: node, seq: seq)
        } catch CertificationLog.ProofUnavailable.notSealed {
            throw Problem(.notFound, "seq \(seq) of \(node.id) is not in a sealed block (not certified yet, or past raw retention)",
                          field: "seq")
        } catch CertificationLog.ProofUnavailable.notCheckpointed {
            throw Problem(.conflict, "seq \(seq) is sealed but not yet under a signed checkpoint; retry after the next one", field: "seq")
        }
        guard proof.entries.first?.seq == seq else {
            throw Problem(.notFound, "seq \(seq) of \(node.id) is not held", field: "seq")
        }
        var body = Array("{\"pod\":".utf8)
        JSONText.appendQuoted(pod.id, to: &body)
        body += Array(",\"node\":".utf8)
        JSONText.appendQuoted(node.id, to: &body)
        body += Array(",\"seq\":\(seq),\"entries\":[".utf8)
        for (index, entry) in proof.entries.enumerated() {
            if index > 0 { body.append(UInt8(ascii: ",")) }
            var writer = JSONObjectWriter()
            writer.integer("seq", Int64(entry.seq))
            writer.string("body", entry.bodyText)
            writer.string("prev", Hex.encode(entry.prev.bytes))
            writer.string("hash", Hex.encode(entry.hash.bytes))
            if index == proof.entries.count - 1 { writer.string("sig", Base64.encode(entry.signature.bytes)) }
            body += writer.finish()
        }
        body += Array("],".utf8)
        var writer = JSONObjectWriter()
        if let key = proof.key { writer.string("key", Base64.encode(key.bytes)) }
        let tip = proof.entries[proof.entries.count - 1]
        writer.string("leaf", String(decoding: LogLeaf.data(node: node.id, seq: tip.seq, hash: tip.hash), as: UTF8.self))
        writer.integer("leaf_index", Int64(proof.leafIndex))
        writer.integer("tree_size", Int64(proof.checkpoint.size))
        writer.stringArray("inclusion", proof.inclusion.map(\.base64))
        writer.string("checkpoint", proof.checkpoint.note)
        body += writer.finish().dropFirst()  // joins the object opened above
        return rawJSON(body)
    }
}
