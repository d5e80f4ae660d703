import CLibXML2
import Glibc

/// An element as UFTP messages have them: a name, attributes and child elements; no text.
public struct XMLElement: Hashable, Sendable {
    public struct Attribute: Hashable, Sendable {
        public var name: String
        public var value: String
    }

    public var name: String
    public var attributes: [Attribute]
    public var children: [XMLElement]

    public init(name: String, attributes: [Attribute] = [], children: [XMLElement] = []) {
        self.name = name
        self.attributes = attributes
        self.children = children
    }

    public func attribute(_ name: String) -> String? { attributes.first { $0.name == name }?.value }
}

/// An element tree as written: a parsed or built `XMLElement`, or the encoder's builder.
public protocol XMLTree {
    var name: String { get }
    var attributes: [XMLElement.Attribute] { get }
    var childElements: [Self] { get }
}

extension XMLElement: XMLTree {
    public var childElements: [XMLElement] { children }
}

/// What an inbound document may be: UFTP messages are small and flat.
public struct XMLLimits: Sendable {
    public var maxBytes: Int
    public var maxDepth: Int
    public var maxElements: Int
    /// Attributes of one element (UFTP's widest has 17): libxml2 before 2.12 compares an
    /// element's attributes pairwise, so one with 400,000 takes minutes to parse.
    public var maxAttributes: Int

    public init(maxBytes: Int = 4 << 20, maxDepth: Int = 8, maxElements: Int = 200_000, maxAttributes: Int = 64) {
        self.maxBytes = maxBytes
        self.maxDepth = maxDepth
        self.maxElements = maxElements
        self.maxAttributes = maxAttributes
    }
}

/// Why a document was refused, naming the place when there is one.
public struct XMLError: Error, Sendable, Equatable, CustomStringConvertible {
    public let path: String
    public let problem: String

    public init(path: String, problem: String) {
        self.path = path
        self.problem = problem
    }

    public var description: String { path.isEmpty ? problem : "\(path): \(problem)" }
}

/// The SAX2 receiver: the elements open, innermost last, and the first fault found.
private final class TreeBuilder {
    let limits: XMLLimits
    var context: xmlParserCtxtPtr?
    var open: [XMLElement] = []
    var root: XMLElement?
    var error: XMLError?
    var count = 0
    /// How deep inside a namespaced (extension) element the parser is: skipped whole.
    var skipping = 0

    init(limits: XMLLimits) {
        self.limits = limits
        open.reserveCapacity(limits.maxDepth)
    }

    static func handler() -> xmlSAXHandler {
        var handler = xmlSAXHandler()
        handler.initialized = UInt32(XML_SAX2_MAGIC)
        handler.startElementNs = { context, name, prefix, namespace, _, _, attributeCount, _, attributes in
            TreeBuilder.from(context).start(name!, prefix: prefix, inNamespace: namespace != nil, Int(attributeCount), attributes)
        }
        handler.endElementNs = { context, _, _, _ in TreeBuilder.from(context).end() }
        handler.characters = { context, text, length in TreeBuilder.from(context).text(text, Int(length)) }
        handler.ignorableWhitespace = handler.characters
        handler.cdataBlock = handler.characters
        handler.internalSubset = { context, _, _, _ in TreeBuilder.from(context).fail("a DOCTYPE is not allowed", at: []) }
        handler.externalSubset = handler.internalSubset
        return handler
    }

    static func from(_ context: UnsafeMutableRawPointer?) -> TreeBuilder {
        Unmanaged<TreeBuilder>.fromOpaque(context!).takeUnretainedValue()
    }

    func fail(_ problem: String, at path: [String]) {
        guard error == nil else { return }
        error = XMLError(path: path.joined(separator: "/"), problem: problem)
        xmlStopParser(context)
    }

    private var path: [String] { open.map(\.name) }

    /// libxml2's SAX2 attributes: five pointers each (name, prefix, namespace, value, value end).
    func start(_ name: UnsafePointer<xmlChar>, prefix: UnsafePointer<xmlChar>?, inNamespace: Bool, _ attributeCount: Int,
               _ attributes: UnsafeMutablePointer<UnsafePointer<xmlChar>?>?) {
        guard error == nil else { return }
        guard skipping == 0, !inNamespace else {
            if open.isEmpty { return fail("the root element must be in no namespace", at: []) }
            skipping += 1
            return
        }
        var element = XMLElement(name: TreeBuilder.name(name, prefix: prefix, inNamespace: inNamespace))
        count += 1
        guard count <= limits.maxElements else { return fail("more than \(limits.maxElements) elements", at: path + [element.name]) }
        guard open.count < limits.maxDepth else { return fail("nested deeper than \(limits.maxDepth) elements", at: path + [element.name]) }
        element.attributes.reserveCapacity(attributeCount)
        for index in 0..<attributeCount {
            let fields = attributes! + 5 * index
            guard fields[2] == nil, let start = fields[3], let end = fields[4] else { continue }
            let bytes = UnsafeBufferPointer(start: start, count: end - start)
            var value = String(decoding: bytes, as: UTF8.self)
            // Not replacing entities, libxml2 hands an "&" on as its character reference.
            if memchr(start, Int32(UInt8(ascii: "&")), bytes.count) != nil { value = value.replacing("&#38;", with: "&") }
            element.attributes.append(.init(name: TreeBuilder.name(fields[0]!, prefix: fields[1], inNamespace: false), value: value))
        }
        open.append(element)
    }

    /// A prefix bound to no namespace (libxml2 only warns) stays part of the name, as in
    /// libxml2's tree: `x:C` is not the element `C`.
    static func name(_ local: UnsafePointer<xmlChar>, prefix: UnsafePointer<xmlChar>?, inNamespace: Bool) -> String {
        guard let prefix, !inNamespace else { return String(cString: local) }
        return String(cString: prefix) + ":" + String(cString: local)
    }

    func end() {
        guard error == nil else { return }
        guard skipping == 0 else {
            skipping -= 1
            return
        }
        let element = open.removeLast()
        if open.isEmpty {
            root = element
        } else {
            open[open.count - 1].children.append(element)
        }
    }

    func text(_ characters: UnsafePointer<xmlChar>?, _ length: Int) {
        guard error == nil, skipping == 0, !open.isEmpty, let characters else { return }
        let bytes = UnsafeBufferPointer(start: characters, count: length)
        guard !bytes.allSatisfy({ $0 == 0x20 || $0 == 0x09 || $0 == 0x0A || $0 == 0x0D }) else { return }
        let text = String(decoding: bytes, as: UTF8.self)
        guard !text.allSatisfy(\.isWhitespace) else { return }
        fail("text content is not allowed (\"\(text.prefix(40))\")", at: path)
    }
}

/// libxml2, used so that it never reaches the network or the file system: no DTD is accepted
/// (so no entity is declared, let alone expanded, and nothing external is loaded), network
/// access is off, size, depth and element count are bounded.
public enum XMLDocument {
    /// Parses UTF-8 XML into its root element. Comments and processing instructions are
    /// skipped; elements and attributes in a namespace are extensions and skipped too (UFTP's
    /// own are in none); text other than whitespace is refused.
    ///
    /// Read with libxml2's SAX2 callbacks straight into `XMLElement`s: building libxml2's own
    /// tree first and copying it took two thirds of the parse.
    public static func parse(_ bytes: [UInt8], limits: XMLLimits = XMLLimits()) throws(XMLError) -> XMLElement {
        guard bytes.count <= limits.maxBytes else {
            throw XMLError(path: "", problem: "document of \(bytes.count) bytes exceeds the limit of \(limits.maxBytes)")
        }
        guard !bytes.isEmpty else { throw XMLError(path: "", problem: "empty document") }
        // Refused before libxml2 sees it: a DTD is where XXE and entity bombs live. (A DOCTYPE
        // this does not see, in another encoding, stops the parse when libxml2 reaches it.)
        if contains(bytes, "<!DOCTYPE") || contains(bytes, "<!ENTITY") {
            throw XMLError(path: "", problem: "a DOCTYPE or entity declaration is not allowed")
        }
        if mostAttributes(bytes) > limits.maxAttributes {
            throw XMLError(path: "", problem: "an element has more than \(limits.maxAttributes) attributes")
        }
        shim_xml_silence()
        let builder = TreeBuilder(limits: limits)
        var handler = TreeBuilder.handler()
        guard let context = xmlCreatePushParserCtxt(&handler, Unmanaged.passUnretained(builder).toOpaque(), nil, 0, nil) else {
            throw XMLError(path: "", problem: "out of memory")
        }
        defer { xmlFreeParserCtxt(context) }
        builder.context = context
        xmlCtxtUseOptions(context, Int32(XML_PARSE_NONET.rawValue | XML_PARSE_NOERROR.rawValue | XML_PARSE_NOWARNING.rawValue))
        let status = withExtendedLifetime(builder) {
            bytes.withUnsafeBufferPointer { buffer in
                buffer.baseAddress!.withMemoryRebound(to: CChar.self, capacity: buffer.count) {
                    xmlParseChunk(context, $0, Int32(buffer.count), 1)
                }
            }
        }
        if let error = builder.error { throw error }
        guard status == 0, context.pointee.wellFormed != 0 else {
            if let error = xmlCtxtGetLastError(context), let message = error.pointee.message {
                let text = String(cString: message).trimmingCharacters(in: [" ", "\n"])
                throw XMLError(path: "", problem: "not well-formed XML (line \(error.pointee.line)): \(text)")
            }
            throw XMLError(path: "", problem: "not well-formed XML")
        }
        // A declared encoding other than UTF-8, or one libxml2 detected and converted from.
        let input = context.pointee.input
        if let encoding = context.pointee.encoding ?? input?.pointee.encoding {
            let name = String(cString: encoding).uppercased()
            guard name == "UTF-8" || name == "UTF8" else {
                throw XMLError(path: "", problem: "encoding \(name) is not allowed; UFTP messages are UTF-8")
            }
        }
        if input?.pointee.buf?.pointee.encoder != nil {
            throw XMLError(path: "", problem: "the document is not UTF-8; UFTP messages are")
        }
        guard let root = builder.root else { throw XMLError(path: "", problem: "no root element") }
        return root
    }

    /// Whether `needle` (which starts with "<") occurs: memchr to each "<", then a comparison.
    /// The most `name="value"` pairs in one tag, counted before libxml2 parses (an upper bound:
    /// a comment's or processing instruction's `=` count too).
    static func mostAttributes(_ bytes: [UInt8]) -> Int {
        var most = 0, count = 0, inTag = false, quote: UInt8 = 0
        for byte in bytes {
            if quote != 0 {
                if byte == quote { quote = 0 }
                continue
            }
            switch byte {
            case UInt8(ascii: "<"): inTag = true; count = 0
            case UInt8(ascii: ">"): inTag = false; most = max(most, count)
            case UInt8(ascii: "\""), UInt8(ascii: "'"): if inTag { quote = byte }
            case UInt8(ascii: "="): if inTag { count += 1 }
            default: break
            }
        }
        return max(most, count)
    }

    private static func contains(_ bytes: [UInt8], _ needle: StaticString) -> Bool {
        let pattern = UnsafeBufferPointer(start: needle.utf8Start, count: needle.utf8CodeUnitCount)
        return bytes.withUnsafeBufferPointer { buffer in
            guard let base = buffer.baseAddress else { return false }
            var offset = 0
            while offset + pattern.count <= buffer.count, let found = memchr(base + offset, Int32(pattern[0]), buffer.count - offset) {
                let at = base.distance(to: found.assumingMemoryBound(to: UInt8.self))
                if at + pattern.count <= buffer.count, memcmp(base + at, pattern.baseAddress!, pattern.count) == 0 { return true }
                offset = at + 1
            }
            return false
        }
    }

    /// Serializes an element as a UTF-8 document with an XML declaration, byte for byte as
    /// libxml2's `xmlDocDumpFormatMemoryEnc` (no indentation) writes it: attribute values
    /// escaped as it escapes them, empty elements closed with `/>`. Written directly: building
    /// libxml2's tree to dump it cost more than the rest of sealing a message.
    public static func serialize(_ root: some XMLTree) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(1024)
        out.append(contentsOf: #"<?xml version="1.0" encoding="UTF-8"?>"#.utf8)
        out.append(0x0A)
        write(root, into: &out)
        out.append(0x0A)
        return out
    }

    private static func write<Tree: XMLTree>(_ element: Tree, into out: inout [UInt8]) {
        out.append(UInt8(ascii: "<"))
        out.append(contentsOf: element.name.utf8)
        for attribute in element.attributes {
            out.append(0x20)
            out.append(contentsOf: attribute.name.utf8)
            out.append(contentsOf: #"=""#.utf8)
            for byte in attribute.value.utf8 {
                switch byte {
                case UInt8(ascii: "&"): out.append(contentsOf: "&amp;".utf8)
                case UInt8(ascii: "<"): out.append(contentsOf: "&lt;".utf8)
                case UInt8(ascii: ">"): out.append(contentsOf: "&gt;".utf8)
                case UInt8(ascii: "\""): out.append(contentsOf: "&quot;".utf8)
                case 0x0A: out.append(contentsOf: "&#10;".utf8)
                case 0x0D: out.append(contentsOf: "&#13;".utf8)
                case 0x09: out.append(contentsOf: "&#9;".utf8)
                default: out.append(byte)
                }
            }
            out.append(UInt8(ascii: "\""))
        }
        guard !element.childElements.isEmpty else {
            out.append(contentsOf: "/>".utf8)
            return
        }
        out.append(UInt8(ascii: ">"))
        for child in element.childElements { write(child, into: &out) }
        out.append(contentsOf: "</".utf8)
        out.append(contentsOf: element.name.utf8)
        out.append(UInt8(ascii: ">"))
    }
}
