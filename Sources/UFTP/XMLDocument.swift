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

    public init(maxBytes: Int = 4 << 20, maxDepth: Int = 8, maxElements: Int = 200_000) {
        self.maxBytes = maxBytes
        self.maxDepth = maxDepth
        self.maxElements = maxElements
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

/// libxml2, used so that it never reaches the network or the file system: no DTD is accepted
/// (so no entity is declared, let alone expanded, and nothing external is loaded), network
/// access is off, size, depth and element count are bounded.
public enum XMLDocument {
    /// Parses UTF-8 XML into its root element. Comments and processing instructions are
    /// skipped; elements and attributes in a namespace are extensions and skipped too (UFTP's
    /// own are in none); text other than whitespace is refused.
    public static func parse(_ bytes: [UInt8], limits: XMLLimits = XMLLimits()) throws(XMLError) -> XMLElement {
        guard bytes.count <= limits.maxBytes else {
            throw XMLError(path: "", problem: "document of \(bytes.count) bytes exceeds the limit of \(limits.maxBytes)")
        }
        guard !bytes.isEmpty else { throw XMLError(path: "", problem: "empty document") }
        // Refused before libxml2 sees it: a DTD is where XXE and entity bombs live.
        if contains(bytes, "<!DOCTYPE") || contains(bytes, "<!ENTITY") {
            throw XMLError(path: "", problem: "a DOCTYPE or entity declaration is not allowed")
        }
        shim_xml_silence()
        guard let context = xmlNewParserCtxt() else { throw XMLError(path: "", problem: "out of memory") }
        defer { xmlFreeParserCtxt(context) }
        let options = Int32(XML_PARSE_NONET.rawValue | XML_PARSE_NOERROR.rawValue | XML_PARSE_NOWARNING.rawValue)
        let document = bytes.withUnsafeBufferPointer { buffer in
            buffer.baseAddress!.withMemoryRebound(to: CChar.self, capacity: buffer.count) {
                xmlCtxtReadMemory(context, $0, Int32(buffer.count), nil, nil, options)
            }
        }
        guard let document else {
            if let error = xmlCtxtGetLastError(context), let message = error.pointee.message {
                let text = String(cString: message).trimmingCharacters(in: [" ", "\n"])
                throw XMLError(path: "", problem: "not well-formed XML (line \(error.pointee.line)): \(text)")
            }
            throw XMLError(path: "", problem: "not well-formed XML")
        }
        defer { xmlFreeDoc(document) }
        guard document.pointee.intSubset == nil, document.pointee.extSubset == nil else {
            throw XMLError(path: "", problem: "a DOCTYPE is not allowed")
        }
        if let encoding = document.pointee.encoding {
            let name = String(cString: encoding).uppercased()
            guard name == "UTF-8" || name == "UTF8" else {
                throw XMLError(path: "", problem: "encoding \(name) is not allowed; UFTP messages are UTF-8")
            }
        }
        guard let root = xmlDocGetRootElement(document) else { throw XMLError(path: "", problem: "no root element") }
        guard root.pointee.ns == nil else {
            throw XMLError(path: "", problem: "the root element must be in no namespace")
        }
        var count = 0
        return try element(root, depth: 1, count: &count, limits: limits)
    }

    /// The element at `node`; an error's path is made as it passes up through the elements
    /// above it (only then: building each element's path as text cost an allocation an element).
    private static func element(_ node: xmlNodePtr, depth: Int, count: inout Int,
                                limits: XMLLimits) throws(XMLError) -> XMLElement {
        let name = String(cString: node.pointee.name)
        do {
            return try element(node, named: name, depth: depth, count: &count, limits: limits)
        } catch {
            throw XMLError(path: error.path.isEmpty ? name : "\(name)/\(error.path)", problem: error.problem)
        }
    }

    private static func element(_ node: xmlNodePtr, named name: String, depth: Int, count: inout Int,
                                limits: XMLLimits) throws(XMLError) -> XMLElement {
        count += 1
        guard count <= limits.maxElements else { throw XMLError(path: "", problem: "more than \(limits.maxElements) elements") }
        guard depth <= limits.maxDepth else { throw XMLError(path: "", problem: "nested deeper than \(limits.maxDepth) elements") }
        var result = XMLElement(name: name)
        // Sized up front: grown an append at a time, a list of 96 ISPs was reallocated 7 times.
        result.attributes.reserveCapacity(length(of: node.pointee.properties))
        result.children.reserveCapacity(elements(in: node.pointee.children))
        var attribute = node.pointee.properties
        while let current = attribute {
            defer { attribute = current.pointee.next }
            guard current.pointee.ns == nil else { continue }
            let attributeName = String(cString: current.pointee.name)
            var value = ""
            if let text = current.pointee.children, text.pointee.next == nil, text.pointee.type == XML_TEXT_NODE,
               let content = text.pointee.content {
                // The usual case, one text node: read in place.
                value = String(cString: content)
            } else if let content = xmlNodeGetContent(UnsafeMutableRawPointer(current).assumingMemoryBound(to: xmlNode.self)) {
                value = String(cString: content)
                shim_xml_free(content)
            }
            result.attributes.append(.init(name: attributeName, value: value))
        }
        var child = node.pointee.children
        while let current = child {
            defer { child = current.pointee.next }
            switch current.pointee.type {
            case XML_ELEMENT_NODE:
                guard current.pointee.ns == nil else { continue }
                result.children.append(try element(current, depth: depth + 1, count: &count, limits: limits))
            case XML_TEXT_NODE, XML_CDATA_SECTION_NODE:
                let text = current.pointee.content.map { String(cString: $0) } ?? ""
                guard text.allSatisfy(\.isWhitespace) else {
                    throw XMLError(path: "", problem: "text content is not allowed (\"\(text.prefix(40))\")")
                }
            case XML_COMMENT_NODE, XML_PI_NODE:
                continue
            default:
                throw XMLError(path: "", problem: "unexpected XML node (type \(current.pointee.type.rawValue))")
            }
        }
        return result
    }

    /// Attributes in a list.
    private static func length(of first: xmlAttrPtr?) -> Int {
        var count = 0
        var node = first
        while let current = node {
            count += 1
            node = current.pointee.next
        }
        return count
    }

    /// Element nodes in a list of siblings.
    private static func elements(in first: xmlNodePtr?) -> Int {
        var count = 0
        var node = first
        while let current = node {
            if current.pointee.type == XML_ELEMENT_NODE { count += 1 }
            node = current.pointee.next
        }
        return count
    }

    /// Whether `needle` (which starts with "<") occurs: memchr to each "<", then a comparison.
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
