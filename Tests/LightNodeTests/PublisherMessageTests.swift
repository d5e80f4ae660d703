import Foundation
import GridCore
import Ledger
@testable import LightNode
import Sodium
import Testing
import TestSupport

@Suite struct PublisherMessageTests {
    let folder = TemporaryDirectory("publisher-message")

    /// A readings message never skips an entry: the first entry that does not fit ends it, even
    /// when a smaller one after it would fit.
    @Test func entriesInAMessageAreConsecutiveWhenOneDoesNotFit() throws {
        let ledger = try Ledger(dataDirectory: folder.path, node: "ln-1", pod: "IT001", signer: .generate())
        let time = Timestamp(rfc3339: "2026-11-24T10:00:00.000Z")!
        let small = EntryBody.event(time: time, name: "small")
        let large = EntryBody.event(time: time, name: "large", detail: String(repeating: "x", count: 130_800))
        try ledger.append(contentsOf: Array(repeating: small, count: 10) + [large] + Array(repeating: small, count: 5))
        let node = AgentConfig.Node(id: "ln-1", pod: "IT001", dataDirectory: folder.path, keyFile: "")

        func seqs(from first: UInt64) throws -> [UInt64] {
            let message = try #require(try Publisher.message(node: node, ledger: ledger, from: first))
            let object = try JSONSerialization.jsonObject(with: Data(message.payload)) as! [String: Any]
            let seqs = (object["entries"] as! [[String: Any]]).map { ($0["seq"] as! NSNumber).uint64Value }
            #expect(seqs.last == message.last)
            return seqs
        }
        #expect(try seqs(from: 1) == Array(1...10))
        #expect(try seqs(from: 11) == [11], "the large entry goes alone")
        #expect(try seqs(from: 12) == Array(12...16))
        #expect(try Publisher.message(node: node, ledger: ledger, from: 17) == nil)
    }
}
