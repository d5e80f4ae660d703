import CLibXML2
import Foundation
import GridCore
import Sodium
import Testing
import TestSupport
@testable import UFTP

@Suite struct UFTPCodecTests {
    static let schema31 = SchemaValidator(version: "3.1.0")

    @Test func everyMessageTypeHasAnExample() {
        #expect(Set(Examples.payloads.map { type(of: $0).elementName }) == Set(UFTPCodec.payloadTypes.map { $0.elementName }))
    }

    @Test func everyMessageSurvivesARoundTrip() throws {
        for payload in Examples.payloads {
            let message = UFTPMessage(metadata: Examples.metadata(), payload: payload)
            let xml = UFTPCodec.encode(message)
            let decoded = try UFTPCodec.decode(xml)
            #expect(decoded.hasSameContent(as: message), "\(message.typeName): \(String(decoding: xml, as: UTF8.self))")
        }
    }

    @Test(.enabled(if: Paths.sharedAvailable, "../shared is absent: the official XSDs are not at hand"))
    func whatIsWrittenIsValidAgainstTheOfficialSchemas() throws {
        let schema = try #require(Self.schema31)
        for payload in Examples.payloads {
            let name = type(of: payload).elementName
            let xml = UFTPCodec.encode(UFTPMessage(metadata: Examples.metadata(), payload: payload))
            #expect(schema.problems(xml) == nil, "3.1.0 \(name): \(schema.problems(xml) ?? "")")
            // The same message as 3.0.0 (without what 3.1.0 added) against that version's schema.
            var old = payload
            if var offer = old as? FlexOffer { offer.unsolicited = nil; old = offer }
            if var order = old as? FlexOrder { order.unsolicited = nil; order.serviceType = nil; old = order }
            let xml30 = UFTPCodec.encode(UFTPMessage(metadata: Examples.metadata(.v3_0_0), payload: old))
            let schema30 = try #require(SchemaValidator(version: "3.0.0", file: Examples.schemaFile30(name)))
            #expect(schema30.problems(xml30) == nil, "3.0.0 \(name): \(schema30.problems(xml30) ?? "")")
        }
        // The validator does object, and so does the decoder: a list the XSD requires one of,
        // left empty, is refused by both.
        var settlement = try #require(Examples.payloads.first { $0 is FlexSettlement } as? FlexSettlement)
        settlement.contractSettlements = []
        let empty = UFTPCodec.encode(UFTPMessage(metadata: Examples.metadata(), payload: settlement))
        #expect(schema.problems(empty)?.contains("ContractSettlement") == true)
        #expect(throws: XMLError.self) { try UFTPCodec.decode(empty) }
    }

    /// The Java reference library's serializer samples: each decodes, and writes back to a
    /// document that decodes to the same message and is schema-valid.
    @Test(.enabled(if: Paths.sharedAvailable, "../shared is absent: samples skipped"))
    func theReferenceSamplesDecodeAndReencode() throws {
        let folder = Paths.shared!.appendingPathComponent("anchors/uftp-samples")
        let files = try FileManager.default.contentsOfDirectory(atPath: folder.path).filter { $0.hasSuffix(".xml") && $0 != "SignedMessage.xml" && $0 != "SignedMessage.expected.xml" }
        #expect(files.count >= 12)
        let schema = try #require(Self.schema31)
        for file in files {
            let bytes = Array(try Data(contentsOf: folder.appendingPathComponent(file)))
            let message = try UFTPCodec.decode(bytes)
            let written = UFTPCodec.encode(message)
            #expect(try UFTPCodec.decode(written).hasSameContent(as: message), "\(file)")
            #expect(schema.problems(written) == nil, "\(file): \(schema.problems(written) ?? "")")
        }
        let wrapper = try SignedMessage.decode(Array(try Data(contentsOf: folder.appendingPathComponent("SignedMessage.xml"))))
        #expect(!wrapper.sealedBody.isEmpty)
        #expect(try SignedMessage.decode(wrapper.encode()) == wrapper)
    }

    /// Older samples without Version, and two XXE attacks: refused, naming why.
    @Test(.enabled(if: Paths.sharedAvailable, "../shared is absent: samples skipped"))
    func invalidReferenceSamplesAreRefusedWithTheReason() throws {
        let folder = Paths.shared!.appendingPathComponent("anchors/uftp-samples/raw-xml")
        for file in try FileManager.default.contentsOfDirectory(atPath: folder.path) where file.hasSuffix(".xml") {
            let bytes = Array(try Data(contentsOf: folder.appendingPathComponent(file)))
            let error = try #require(throws: XMLError.self) { try UFTPCodec.decode(bytes) }
            if file.contains("XXE") {
                #expect(error.problem.contains("DOCTYPE"), "\(file): \(error)")
            } else {
                #expect(error.path.hasSuffix("@Version") && error.problem == "is required", "\(file): \(error)")
            }
        }
    }

    @Test(.enabled(if: Paths.sharedAvailable, "../shared is absent: known-answer vector skipped"))
    func theKnownAnswerSignedMessageOpensToItsPayload() throws {
        let folder = Paths.shared!.appendingPathComponent("anchors/uftp-samples/kat")
        let payload = Array(try Data(contentsOf: folder.appendingPathComponent("TestMessage.payload.xml")))
        let signed = Array(try Data(contentsOf: folder.appendingPathComponent("TestMessage.signed.xml")))
        let wrapper = try SignedMessage.decode(signed)
        #expect(wrapper.senderDomain.text == "dso.tld" && wrapper.senderRole == .dso)
        let key = try SigningKey(base64: "4niUT8PXmRC5syAubh4lfvYM0Q83q/Clo/cb+Ey7frLQS41+XClbwutwyuw/kmtsHgbY34XrTOWtron8Nt7MVA==")
        let other = SigningKey.generate()
        // Either key of a rotation may verify; a foreign one never does.
        #expect(wrapper.open(keys: [other.publicKey, key.publicKey]) == payload)
        #expect(wrapper.open(keys: [other.publicKey]) == nil)
        let message = try UFTPCodec.decode(payload)
        #expect(message.payload is TestMessage && message.metadata.senderDomain.text == "dso.tld")
        // CS1 is deterministic: sealing the same bytes gives the same Body.
        #expect(key.signCombined(payload) == wrapper.sealedBody)
        #expect(try SignedMessage.decode(wrapper.encode()) == wrapper)
    }

    /// The digest's self-generated CS1 vector (notes/uftp-digest.md §8.11), inline.
    @Test func aCS1VectorFromASeedMatches() throws {
        let seed = (0..<32).map { UInt8($0) }
        let key = try SigningKey(seed: seed)
        #expect(Hex.encode(key.publicKey.bytes) == "03a107bff3ce10be1d70dd18e74bc09967e4d6309ba50d5f1ddc8664125531b8")
        let message = Array(#"<?xml version="1.0" encoding="UTF-8"?><TestMessage Version="3.0.0" SenderDomain="dso.example.com" RecipientDomain="agr.example.com" TimeStamp="2023-01-01T12:00:00Z" MessageID="00000000-0000-4000-8000-000000000001" ConversationID="00000000-0000-4000-8000-000000000002"/>"#.utf8)
        let sealed = key.signCombined(message)
        #expect(Hex.encode(Array(sealed.prefix(64))) == "186f46405d7390f6b9392b4791105c9ac4916d8c36ecf7901b9045015d0b867ac4f79c9ee1ebf058dda692fd04d23f15e92ea801566496b7f851a94a7e3e6406")
        #expect(try UFTPCodec.decode(message).payload is TestMessage)
    }

    @Test func cs1KeyStringsOf32And64BytesGiveTheSigningKey() throws {
        let published = "cs1.V4lZrkYHq8FzneXxUML+QEMXMul3tBm+gPGoVDIZBA92VoWTu8/kRu2Zx72XOm1i/qwwoSgXjqSAqSa43myCaQ=="
        let key = try PublicKey(parsing: published)
        #expect(Hex.encode(key.bytes) == "578959ae4607abc1739de5f150c2fe40431732e977b419be80f1a8543219040f")
        #expect(try PublicKey(parsing: key.cs1) == key)
        #expect(throws: SodiumError.self) { try PublicKey(parsing: "cs1.AAAA") }
    }

    /// Each fault is refused with an error naming the attribute or element.
    @Test(arguments: [
        (#"<TestMessage Version="3.1.0" SenderDomain="dso.example.com" RecipientDomain="agr.example.com" TimeStamp="2026-11-25T10:00:00Z" MessageID="00000000-0000-4000-8000-000000000001"/>"#,
         "TestMessage@ConversationID", "is required"),
        (#"<TestMessage Version="3.1.0" SenderDomain="DSO.example.com" RecipientDomain="agr.example.com" TimeStamp="2026-11-25T10:00:00Z" MessageID="00000000-0000-4000-8000-000000000001" ConversationID="00000000-0000-4000-8000-000000000002"/>"#,
         "TestMessage@SenderDomain", "lower-case internet domain"),
        (#"<TestMessage Version="3.1.0" SenderDomain="dso.example.com" RecipientDomain="agr.example.com" TimeStamp="2026-11-25 10:00" MessageID="00000000-0000-4000-8000-000000000001" ConversationID="00000000-0000-4000-8000-000000000002"/>"#,
         "TestMessage@TimeStamp", "date and time with a zone"),
        (#"<TestMessage Version="3.1.0" SenderDomain="dso.example.com" RecipientDomain="agr.example.com" TimeStamp="2026-11-25T10:00:00Z" MessageID="not-a-uuid" ConversationID="00000000-0000-4000-8000-000000000002"/>"#,
         "TestMessage@MessageID", "must be a UUID"),
        (#"<TestMessage Version="3.1.0" Extra="1" SenderDomain="dso.example.com" RecipientDomain="agr.example.com" TimeStamp="2026-11-25T10:00:00Z" MessageID="00000000-0000-4000-8000-000000000001" ConversationID="00000000-0000-4000-8000-000000000002"/>"#,
         "TestMessage", "unknown attribute Extra"),
        (#"<FlexOfferRevocation Version="3.1.0" SenderDomain="agr.example.com" RecipientDomain="dso.example.com" TimeStamp="2026-11-25T10:00:00Z" MessageID="00000000-0000-4000-8000-000000000001" ConversationID="00000000-0000-4000-8000-000000000002" FlexOfferMessageID="00000000-0000-4000-8000-000000000003"><ISP Start="1"/></FlexOfferRevocation>"#,
         "FlexOfferRevocation", "unknown element <ISP>"),
        (#"<FlexRequestResponse Version="3.1.0" SenderDomain="agr.example.com" RecipientDomain="dso.example.com" TimeStamp="2026-11-25T10:00:00Z" MessageID="00000000-0000-4000-8000-000000000001" ConversationID="00000000-0000-4000-8000-000000000002" Result="Maybe" FlexRequestMessageID="00000000-0000-4000-8000-000000000003"/>"#,
         "FlexRequestResponse@Result", "must be one of Accepted, Rejected"),
        (#"<FlexReservationUpdate Version="3.1.0" SenderDomain="dso.example.com" RecipientDomain="agr.example.com" TimeStamp="2026-11-25T10:00:00Z" MessageID="00000000-0000-4000-8000-000000000001" ConversationID="00000000-0000-4000-8000-000000000002" ISP-Duration="PT15M" TimeZone="Europe/Amsterdam" Period="2026-11-26" CongestionPoint="ean.871685900012636543" ContractID="C" Reference="R"><ISP Power="1" Start="0"/></FlexReservationUpdate>"#,
         "FlexReservationUpdate/ISP[1]@Start", "positive integer"),
        (#"<FlexReservationUpdate Version="3.1.0" SenderDomain="dso.example.com" RecipientDomain="agr.example.com" TimeStamp="2026-11-25T10:00:00Z" MessageID="00000000-0000-4000-8000-000000000001" ConversationID="00000000-0000-4000-8000-000000000002" ISP-Duration="PT15M" TimeZone="Europe/Amsterdam" Period="2026-11-26" CongestionPoint="ean.871685900012636543" ContractID="C" Reference="R"></FlexReservationUpdate>"#,
         "FlexReservationUpdate", "needs at least one <ISP>"),
        (#"<FlexReservationUpdate Version="3.1.0" SenderDomain="dso.example.com" RecipientDomain="agr.example.com" TimeStamp="2026-11-25T10:00:00Z" MessageID="00000000-0000-4000-8000-000000000001" ConversationID="00000000-0000-4000-8000-000000000002" ISP-Duration="PT15M" TimeZone="Europe/Amsterdam" Period="2026-02-30" CongestionPoint="ean.871685900012636543" ContractID="C" Reference="R"><ISP Power="1" Start="1"/></FlexReservationUpdate>"#,
         "FlexReservationUpdate@Period", "not a calendar day"),
        (#"<FlexOrder Version="3.0.0" SenderDomain="dso.example.com" RecipientDomain="agr.example.com" TimeStamp="2026-11-25T10:00:00Z" MessageID="00000000-0000-4000-8000-000000000001" ConversationID="00000000-0000-4000-8000-000000000002" ISP-Duration="PT15M" TimeZone="Europe/Amsterdam" Period="2026-11-26" CongestionPoint="ean.871685900012636543" Price="1.23456" Currency="EUR" OrderReference="O" FlexOfferMessageID="00000000-0000-4000-8000-000000000003"><ISP Power="1" Start="1"/></FlexOrder>"#,
         "FlexOrder@Price", "at most 4 allowed"),
        (#"<FlexOrder Version="3.0.0" SenderDomain="dso.example.com" RecipientDomain="agr.example.com" TimeStamp="2026-11-25T10:00:00Z" MessageID="00000000-0000-4000-8000-000000000001" ConversationID="00000000-0000-4000-8000-000000000002" ISP-Duration="PT15M" TimeZone="Europe/Amsterdam" Period="2026-11-26" CongestionPoint="ean.871685900012636543" Price="1" Currency="EUR" OrderReference="O"><ISP Power="1" Start="1"/></FlexOrder>"#,
         "FlexOrder@FlexOfferMessageID", "required in UFTP 3.0.0"),
        (#"<FlexOrder Version="3.0.0" Unsolicited="true" SenderDomain="dso.example.com" RecipientDomain="agr.example.com" TimeStamp="2026-11-25T10:00:00Z" MessageID="00000000-0000-4000-8000-000000000001" ConversationID="00000000-0000-4000-8000-000000000002" ISP-Duration="PT15M" TimeZone="Europe/Amsterdam" Period="2026-11-26" CongestionPoint="ean.871685900012636543" Price="1" Currency="EUR" OrderReference="O" FlexOfferMessageID="00000000-0000-4000-8000-000000000003"><ISP Power="1" Start="1"/></FlexOrder>"#,
         "FlexOrder@Unsolicited", "not part of UFTP 3.0.0"),
        (#"<FlexOrder Version="3.1.0" SenderDomain="dso.example.com" RecipientDomain="agr.example.com" TimeStamp="2026-11-25T10:00:00Z" MessageID="00000000-0000-4000-8000-000000000001" ConversationID="00000000-0000-4000-8000-000000000002" ISP-Duration="PT15M" TimeZone="Europe/Amsterdam" Period="2026-11-26" CongestionPoint="ean.871685900012636543" Price="1" Currency="EUR" OrderReference="O" ActivationFactor="1.5"><ISP Power="1" Start="1"/></FlexOrder>"#,
         "FlexOrder@ActivationFactor", "between 0.01 and 1.00"),
        (#"<Bogus/>"#, "Bogus", "not a UFTP payload message type"),
        (#"<TestMessage"#, "", "not well-formed XML"),
        (#"<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;">]><TestMessage Version="&lol2;"/>"#,
         "", "DOCTYPE"),
        (#"<TestMessage Version="3.1.0">text</TestMessage>"#, "TestMessage", "text content is not allowed"),
    ])
    func faultsAreNamed(xml: String, path: String, problem: String) throws {
        let error = try #require(throws: XMLError.self) { try UFTPCodec.decode(Array(xml.utf8)) }
        #expect(error.path == path && error.problem.contains(problem), "\(error)")
    }

    @Test func sizeAndDepthAreBounded() throws {
        let big = Array(repeating: UInt8(ascii: " "), count: 2000) + Array("<TestMessage/>".utf8)
        let tooBig = try #require(throws: XMLError.self) { try XMLDocument.parse(big, limits: XMLLimits(maxBytes: 1000)) }
        #expect(tooBig.problem.contains("exceeds the limit"))
        let deep = String(repeating: "<a>", count: 20) + String(repeating: "</a>", count: 20)
        let tooDeep = try #require(throws: XMLError.self) { try XMLDocument.parse(Array(deep.utf8)) }
        #expect(tooDeep.problem.contains("nested deeper than 8"))
    }

    @Test func namespacedExtensionsAreIgnoredAndEscapingHolds() throws {
        let xml = #"<TestMessage xmlns:x="urn:x" x:note="ignored" Version="3.1.0" SenderDomain="dso.example.com" RecipientDomain="agr.example.com" TimeStamp="2026-11-25T10:00:00+01:00" MessageID="00000000-0000-4000-8000-000000000001" ConversationID="00000000-0000-4000-8000-000000000002"><x:extra/></TestMessage>"#
        let message = try UFTPCodec.decode(Array(xml.utf8))
        #expect(message.metadata.timeStamp.timestamp == Timestamp(rfc3339: "2026-11-25T09:00:00Z"))
        // A reason with markup characters survives the round trip as text.
        let reason = #"<script>"a" & 'b'</script>"#
        let response = UFTPMessage(metadata: Examples.metadata(), payload: FlexOfferResponse(result: .rejected, rejectionReason: reason, referencedMessageID: Examples.id(9)))
        let decoded = try UFTPCodec.decode(UFTPCodec.encode(response))
        #expect((decoded.payload as? FlexOfferResponse)?.rejectionReason == reason)
    }

    /// The writer writes what libxml2's dump of the same tree would, byte for byte (it wrote
    /// the documents before): every example message, and attribute values with each character
    /// it escapes, and non-ASCII text.
    @Test func theWriterWritesWhatLibxml2Would() throws {
        let tricky = XMLElement(name: "FlexOfferResponse", attributes: [
            .init(name: "RejectionReason", value: "<a href=\"x\">&amp; 'q' > \n\r\t end</a>"),
            .init(name: "Empty", value: ""),
            .init(name: "Unicode", value: "Überlast – 5 °C ✓"),
        ], children: [XMLElement(name: "ISP", attributes: [.init(name: "Start", value: "1")]),
                      XMLElement(name: "Outer", children: [XMLElement(name: "Inner")])])
        #expect(XMLDocument.serialize(tricky) == Self.libxml2Dump(tricky))
        for payload in Examples.payloads {
            let element = UFTPCodec.element(UFTPMessage(metadata: Examples.metadata(), payload: payload))
            #expect(XMLDocument.serialize(element) == Self.libxml2Dump(element), "\(element.name)")
        }
    }

    /// The SAX reader builds what libxml2's own tree holds (elements and attributes in no
    /// namespace, entities and character references resolved), and refuses what that tree
    /// would not give: on every example message and on thousands of mutations of them.
    @Test func theReaderAgreesWithLibxml2sTree() {
        var random = SplitMix64(seed: 99)
        let seeds = Examples.payloads.map { UFTPCodec.encode(UFTPMessage(metadata: Examples.metadata(), payload: $0)) }
            + [Array(#"<A xmlns:x="urn:x" x:a="1" B="&amp;&lt;&#38;&#x41;"><x:C D="2"><E/></x:C><F G="a&#10;b c"/><!-- c --><?p i?></A>"#.utf8)]
        var agreed = 0
        for round in 0..<(seeds.count + 10_000) {
            let input = round < seeds.count ? seeds[round] : DecoderFuzzTests().mutate(seeds[round % seeds.count], &random)
            let ours = try? XMLDocument.parse(input)
            let theirs = Self.libxml2Tree(input)
            #expect(ours == theirs, "\(String(decoding: input, as: UTF8.self)): \(String(describing: Result { try XMLDocument.parse(input) }))")
            if ours != nil { agreed += 1 }
        }
        #expect(agreed > seeds.count)
    }

    /// libxml2's tree of `bytes`, in no namespace, or nil where the reader must refuse: not
    /// UTF-8 (the tree reader falls back to Latin-1 after an invalid byte, the reader refuses),
    /// not well-formed, a DOCTYPE, a namespaced root, or text other than whitespace.
    static func libxml2Tree(_ bytes: [UInt8]) -> XMLElement? {
        guard let text = String(validating: bytes, as: UTF8.self), !text.contains("<!DOCTYPE"), !text.contains("<!ENTITY"),
              let document = xmlReadMemory(text, Int32(bytes.count), nil, nil, Int32(XML_PARSE_NONET.rawValue | XML_PARSE_NOERROR.rawValue | XML_PARSE_NOWARNING.rawValue))
        else { return nil }
        defer { xmlFreeDoc(document) }
        func element(_ node: xmlNodePtr, depth: Int) -> XMLElement?? {
            guard depth <= 8 else { return .some(nil) }
            var result = XMLElement(name: String(cString: node.pointee.name))
            var attribute = node.pointee.properties
            while let current = attribute {
                attribute = current.pointee.next
                guard current.pointee.ns == nil else { continue }
                let value = xmlNodeGetContent(UnsafeMutableRawPointer(current).assumingMemoryBound(to: xmlNode.self))
                result.attributes.append(.init(name: String(cString: current.pointee.name), value: value.map { String(cString: $0) } ?? ""))
                free(value)
            }
            var child = node.pointee.children
            while let current = child {
                child = current.pointee.next
                switch current.pointee.type {
                case XML_ELEMENT_NODE where current.pointee.ns == nil:
                    guard let inner = element(current, depth: depth + 1), let inner else { return .some(nil) }
                    result.children.append(inner)
                case XML_TEXT_NODE, XML_CDATA_SECTION_NODE:
                    let content = current.pointee.content.map { String(cString: $0) } ?? ""
                    guard content.allSatisfy(\.isWhitespace) else { return .some(nil) }
                default: continue
                }
            }
            return result
        }
        guard document.pointee.intSubset == nil, let root = xmlDocGetRootElement(document), root.pointee.ns == nil,
              let tree = element(root, depth: 1) else { return nil }
        return tree
    }

    /// libxml2's serialization of `root`: its tree, dumped without indentation in UTF-8.
    static func libxml2Dump(_ root: XMLElement) -> [UInt8] {
        let document = xmlNewDoc("1.0")!
        defer { xmlFreeDoc(document) }
        func build(_ element: XMLElement) -> xmlNodePtr {
            let node = xmlNewDocNode(document, nil, element.name, nil)!
            for attribute in element.attributes { xmlNewProp(node, attribute.name, attribute.value) }
            for child in element.children { xmlAddChild(node, build(child)) }
            return node
        }
        xmlDocSetRootElement(document, build(root))
        var memory: UnsafeMutablePointer<xmlChar>?
        var size: Int32 = 0
        xmlDocDumpFormatMemoryEnc(document, &memory, &size, "UTF-8", 0)
        guard let memory else { return [] }
        defer { free(memory) }
        return Array(UnsafeBufferPointer(start: memory, count: Int(size)))
    }

    /// The ISP types read and written without Codable's containers agree with their Codable
    /// conformance: the same value, or the same error at the same place, and the same attributes
    /// left unknown; written, the same attributes in the same order.
    @Test func attributesOnlyElementsAgreeWithCodable() throws {
        /// A list of one ISP: the list reads it without containers unless it has a child.
        struct Holder<T: Decodable>: Decodable {
            var isps: [T]
            enum CodingKeys: String, CodingKey { case isps = "ISP" }
        }
        func both<T: AttributesOnlyElement & Equatable>(_ type: T.Type, _ attributes: [(String, String)], child: String? = nil) throws {
            let element = XMLElement(name: "ISP", attributes: attributes.map { .init(name: $0.0, value: $0.1) },
                                     children: child.map { [XMLElement(name: $0)] } ?? [])
            let holder = XMLElement(name: "Holder", children: [element])
            func outcome(_ read: (ElementDecoder) throws -> T) -> String {
                let usage = ElementUsage()
                let decoder = ElementDecoder(root: holder, usage: usage)
                do {
                    let value = try mappingDecodingErrors { try read(decoder) }
                    return "\(value) unknown: \(usage.firstUnknown()?.description ?? "-")"
                } catch {
                    return "\(error)"
                }
            }
            let direct = outcome { try Holder<T>(from: $0).isps[0] }
            let viaCodable = outcome { holder in
                holder.mark("ISP")
                return try T(from: holder.child(element, name: "ISP", index: 0))
            }
            #expect(direct == viaCodable, "\(T.self) \(attributes) \(child ?? "")")
            let usage = ElementUsage()
            let decoded = Result { try Holder<T>(from: ElementDecoder(root: holder, usage: usage)) }
            if case .success(let read) = decoded, let value = read.isps.first {
                let viaCodable = ElementBuilder(name: "ISP"), viaWriter = ElementBuilder(name: "ISP")
                try value.encode(to: ElementEncoder(builder: viaCodable))
                value.write(AttributeWriter(builder: viaWriter))
                #expect(viaCodable.element == viaWriter.element)
            }
        }
        let cases: [[(String, String)]] = [
            [("Power", "-2000"), ("Start", "5"), ("Duration", "4")], [("Power", "10"), ("Start", "1")],
            [("Power", "x"), ("Start", "1")], [("Power", "10"), ("Start", "0")], [("Power", "10")], [("Start", "2")],
            [("Power", "10"), ("Start", "1"), ("Duration", "-1")], [("Power", "10"), ("Start", "1"), ("Extra", "1")],
            [("Power", "+7"), ("Start", "01"), ("Duration", "")],
            [("Disposition", "Requested"), ("MinPower", "-50"), ("MaxPower", "-10"), ("Start", "3"), ("Duration", "2")],
            [("Disposition", "Maybe"), ("MinPower", "-50"), ("MaxPower", "-10"), ("Start", "3")],
            [("MinPower", "-50"), ("MaxPower", "y"), ("Start", "3")],
        ]
        for attributes in cases {
            try both(PowerISP.self, attributes)
            try both(DPrognosis.ISP.self, attributes)
            try both(FlexRequest.ISP.self, attributes)
        }
        try both(PowerISP.self, [("Power", "10"), ("Start", "1")], child: "Duration")
        try both(FlexRequest.ISP.self, [("MinPower", "1"), ("MaxPower", "2"), ("Start", "1")], child: "Disposition")
    }
}
