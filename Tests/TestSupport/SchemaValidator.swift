import CLibXML2
import Foundation

/// The official UFTP XSDs (../shared/anchors/uftp-xsd), read by libxml2's schema validator: the
/// tests check what the codec writes against them (the project does not carry the XSDs).
public final class SchemaValidator: @unchecked Sendable {
    private let schema: xmlSchemaPtr

    /// `version` "3.1.0" uses the aggregate UFTP.xsd; "3.0.0" the per-role file named.
    public init?(version: String, file: String = "UFTP.xsd") {
        guard let shared = Paths.shared else { return nil }
        let path = shared.appendingPathComponent("anchors/uftp-xsd/v\(version)/\(file)").path
        guard let context = xmlSchemaNewParserCtxt(path) else { return nil }
        defer { xmlSchemaFreeParserCtxt(context) }
        guard let schema = xmlSchemaParse(context) else { return nil }
        self.schema = schema
    }

    deinit { xmlSchemaFree(schema) }

    /// The schema a message of `type` (its root element) is checked against in `version`:
    /// 3.1.0's aggregate schema, or the 3.0.0 file that defines it; nil without ../shared.
    public static func of(version: String, type: String) -> SchemaValidator? {
        SchemaValidator(version: version, file: version == "3.0.0" ? Examples.schemaFile30(type) : "UFTP.xsd")
    }

    /// nil when valid, else libxml2's first complaint.
    public func problems(_ xml: [UInt8]) -> String? {
        let document = xml.withUnsafeBufferPointer { buffer in
            buffer.baseAddress!.withMemoryRebound(to: CChar.self, capacity: buffer.count) {
                xmlReadMemory($0, Int32(buffer.count), nil, nil, Int32(XML_PARSE_NONET.rawValue | XML_PARSE_NOERROR.rawValue | XML_PARSE_NOWARNING.rawValue))
            }
        }
        guard let document else { return "not well-formed" }
        defer { xmlFreeDoc(document) }
        guard let context = xmlSchemaNewValidCtxt(schema) else { return "no validation context" }
        defer { xmlSchemaFreeValidCtxt(context) }
        let collector = ErrorCollector()
        let box = Unmanaged.passRetained(collector)
        defer { box.release() }
        xmlSchemaSetValidStructuredErrors(context, { userData, error in
            guard let userData, let error, let message = error.pointee.message else { return }
            let collector = Unmanaged<ErrorCollector>.fromOpaque(userData).takeUnretainedValue()
            if collector.first == nil { collector.first = String(cString: message).trimmingCharacters(in: .whitespacesAndNewlines) }
        }, box.toOpaque())
        return xmlSchemaValidateDoc(context, document) == 0 ? nil : (collector.first ?? "invalid")
    }

    private final class ErrorCollector {
        var first: String?
    }
}
