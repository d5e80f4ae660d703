import Sodium

/// A UFTP payload message: the common metadata and the typed payload.
public struct UFTPMessage: Sendable {
    public var metadata: Metadata
    public var payload: any UFTPPayload

    public init(metadata: Metadata, payload: any UFTPPayload) {
        self.metadata = metadata
        self.payload = payload
    }

    /// The root element name, which names the type.
    public var typeName: String { type(of: payload).elementName }

    /// Same metadata and same payload.
    public func hasSameContent(as other: UFTPMessage) -> Bool {
        metadata == other.metadata && payload.isEqual(to: other.payload)
    }
}

extension UFTPPayload {
    /// Equality across the existential.
    public func isEqual(to other: any UFTPPayload) -> Bool { (other as? Self) == self }
}

/// XML ⇄ `UFTPMessage`, for every message type of UFTP 3.0.0 and 3.1.0.
public enum UFTPCodec {
    /// The specification versions this codec reads and writes.
    public static let supportedVersions: [SpecVersion] = [.v3_0_0, .v3_1_0]

    public static let payloadTypes: [any UFTPPayload.Type] = [
        TestMessage.self, TestMessageResponse.self,
        AGRPortfolioUpdate.self, AGRPortfolioUpdateResponse.self, AGRPortfolioQuery.self, AGRPortfolioQueryResponse.self,
        DSOPortfolioUpdate.self, DSOPortfolioUpdateResponse.self, DSOPortfolioQuery.self, DSOPortfolioQueryResponse.self,
        DPrognosis.self, DPrognosisResponse.self, FlexReservationUpdate.self, FlexReservationUpdateResponse.self,
        FlexRequest.self, FlexRequestResponse.self, FlexOffer.self, FlexOfferResponse.self,
        FlexOfferRevocation.self, FlexOfferRevocationResponse.self, FlexOrder.self, FlexOrderResponse.self,
        FlexSettlement.self, FlexSettlementResponse.self, Metering.self, MeteringResponse.self,
    ]

    static let typesByName: [String: any UFTPPayload.Type] = Dictionary(uniqueKeysWithValues: payloadTypes.map { ($0.elementName, $0) })

    /// Attributes 3.1.0 added, which a 3.0.0 message may not carry.
    static let addedIn3_1: [String: Set<String>] = ["FlexOffer": ["Unsolicited"], "FlexOrder": ["Unsolicited", "ServiceType"]]

    /// Parses and checks a payload message against its type: every attribute and element
    /// known, required ones present, values in their XSD types, cardinalities respected.
    public static func decode(_ bytes: [UInt8], limits: XMLLimits = XMLLimits()) throws(XMLError) -> UFTPMessage {
        let root = try XMLDocument.parse(bytes, limits: limits)
        guard let type = typesByName[root.name] else {
            throw XMLError(path: root.name, problem: "is not a UFTP payload message type")
        }
        let message = try decode(root, as: type)
        if message.metadata.version == .v3_0_0 {
            if let added = addedIn3_1[root.name]?.first(where: { root.attribute($0) != nil }) {
                throw XMLError(path: "\(root.name)@\(added)", problem: "is not part of UFTP 3.0.0 (added in 3.1.0)")
            }
            if let order = message.payload as? FlexOrder, order.flexOfferMessageID == nil {
                throw XMLError(path: "FlexOrder@FlexOfferMessageID", problem: "is required in UFTP 3.0.0")
            }
        }
        return message
    }

    private static func decode(_ root: XMLElement, as type: any UFTPPayload.Type) throws(XMLError) -> UFTPMessage {
        let usage = ElementUsage()
        let message = try mappingDecodingErrors {
            let decoder = ElementDecoder(root: root, usage: usage)
            return UFTPMessage(metadata: try Metadata(from: decoder), payload: try type.init(from: decoder))
        }
        if let unknown = usage.firstUnknown() { throw unknown }
        return message
    }

    /// The message as a UTF-8 XML document.
    public static func encode(_ message: UFTPMessage) -> [UInt8] {
        XMLDocument.serialize(build(message))
    }

    static func element(_ message: UFTPMessage) -> XMLElement { build(message).element }

    /// The message's element tree as encoded (written without first copying it into an `XMLElement`).
    private static func build(_ message: UFTPMessage) -> ElementBuilder {
        let root = ElementBuilder(name: message.typeName)
        let encoder = ElementEncoder(builder: root)
        do {
            try message.metadata.encode(to: encoder)
            try message.payload.encode(to: encoder)
        } catch {
            preconditionFailure("encoding a UFTP value cannot fail: \(error)")
        }
        return root
    }
}

/// Runs a decode, turning Codable's errors into ones that name the attribute or element.
func mappingDecodingErrors<T>(_ body: () throws -> T) throws(XMLError) -> T {
    do {
        return try body()
    } catch let error as XMLError {
        throw error
    } catch let error as DecodingError {
        switch error {
        case .dataCorrupted(let context), .typeMismatch(_, let context), .valueNotFound(_, let context):
            throw XMLError(path: describe(context.codingPath), problem: context.debugDescription)
        case .keyNotFound(let key, let context):
            throw XMLError(path: describe(context.codingPath), problem: "\(key.stringValue) is required")
        @unknown default:
            throw XMLError(path: "", problem: "\(error)")
        }
    } catch {
        throw XMLError(path: "", problem: "\(error)")
    }
}

/// The transport wrapper: who sent it, and the payload sealed with their CS1 key.
public struct SignedMessage: Hashable, Sendable {
    public var senderDomain: InternetDomain
    public var senderRole: USEFRole
    /// `crypto_sign` combined mode: the 64-byte signature, then the payload's XML bytes.
    public var sealedBody: [UInt8]

    public init(senderDomain: InternetDomain, senderRole: USEFRole, sealedBody: [UInt8]) {
        self.senderDomain = senderDomain
        self.senderRole = senderRole
        self.sealedBody = sealedBody
    }

    /// Seals a payload message with the sender's key (CS1).
    public init(sealing message: UFTPMessage, role: USEFRole, key: SigningKey) {
        self.init(senderDomain: message.metadata.senderDomain, senderRole: role, sealedBody: key.signCombined(UFTPCodec.encode(message)))
    }

    /// The payload's XML bytes if one of the sender's keys (two during a rotation) verifies them.
    public func open(keys: [PublicKey]) -> [UInt8]? {
        for key in keys {
            if let payload = key.open(signedMessage: sealedBody) { return payload }
        }
        return nil
    }

    public static func decode(_ bytes: [UInt8], limits: XMLLimits = XMLLimits()) throws(XMLError) -> SignedMessage {
        let root = try XMLDocument.parse(bytes, limits: limits)
        guard root.name == "SignedMessage" else {
            throw XMLError(path: root.name, problem: "expected a SignedMessage")
        }
        let usage = ElementUsage()
        let wrapper = try mappingDecodingErrors {
            try Wire(from: ElementDecoder(root: root, usage: usage))
        }
        if let unknown = usage.firstUnknown() { throw unknown }
        return SignedMessage(senderDomain: wrapper.senderDomain, senderRole: wrapper.senderRole, sealedBody: wrapper.body.bytes)
    }

    public func encode() -> [UInt8] {
        let root = ElementBuilder(name: "SignedMessage")
        do {
            try Wire(senderDomain: senderDomain, senderRole: senderRole, body: Base64Binary(bytes: sealedBody))
                .encode(to: ElementEncoder(builder: root))
        } catch {
            preconditionFailure("encoding a SignedMessage cannot fail: \(error)")
        }
        return XMLDocument.serialize(root)
    }

    private struct Wire: Codable {
        var senderDomain: InternetDomain
        var senderRole: USEFRole
        var body: Base64Binary
        enum CodingKeys: String, CodingKey { case senderDomain = "SenderDomain", senderRole = "SenderRole", body = "Body" }
    }
}

/// `xs:base64Binary` (whitespace allowed between the characters).
struct Base64Binary: UFTPSimpleType {
    let bytes: [UInt8]

    init(bytes: [UInt8]) { self.bytes = bytes }

    init(validating text: String) throws(UFTPValueError) {
        // Public data: decoded from the bytes directly, not through the key decoder that wipes.
        let compact = Array(text.utf8.filter { $0 != 0x20 && $0 != 0x09 && $0 != 0x0A && $0 != 0x0D })
        guard !compact.isEmpty,
              let bytes = compact.withUnsafeBufferPointer({ try? Base64.decode(utf8: $0, what: "Body") }) else {
            throw UFTPValueError("must be base64")
        }
        self.bytes = bytes
    }

    var text: String { Base64.encode(bytes) }
}
