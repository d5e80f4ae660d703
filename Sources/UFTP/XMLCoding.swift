/// Codable over `XMLElement`, the UFTP way: every scalar is an attribute, every structure a
/// child element named by its key, every list the children of that name (in order). Types say
/// which they are: a value decoded through a single-value container is an attribute, through a
/// keyed container an element, through an unkeyed container a list of elements.

/// A coding-path key naming an attribute (`@Name` in error paths) or a child element.
struct XMLKey: CodingKey {
    let stringValue: String
    let isAttribute: Bool
    init(element name: String) { stringValue = name; isAttribute = false }
    init(attribute name: String) { stringValue = name; isAttribute = true }
    init?(stringValue: String) { self.init(element: stringValue) }
    var intValue: Int? { nil }
    init?(intValue: Int) { nil }
}

/// A coding-path key for the n-th element of a list (`[n]`, from 1, in error paths).
struct IndexKey: CodingKey {
    let intValue: Int?
    init(_ index: Int) { intValue = index }
    init?(intValue: Int) { self.intValue = intValue }
    init?(stringValue: String) { nil }
    var stringValue: String { "\(intValue ?? 0)" }
}

/// `FlexOffer/OfferOption[2]/ISP[5]@Power`.
func describe(_ path: [any CodingKey]) -> String {
    var text = ""
    for key in path {
        switch key {
        case let index as IndexKey: text += "[\((index.intValue ?? 0) + 1)]"
        case let name as XMLKey where name.isAttribute: text += "@" + key.stringValue
        default: text += (text.isEmpty ? "" : "/") + key.stringValue
        }
    }
    return text
}

/// The elements decoded, in the order they were: after decoding, what an element has that no
/// decoder asked for is not part of the message type, and the message is refused for it.
final class ElementUsage {
    enum Entry {
        case decoder(ElementDecoder)
        /// An attributes-only element read without a decoder, already found to have one.
        case unknown(XMLError)
    }
    private(set) var entries: [Entry] = []

    func record(_ decoder: ElementDecoder) { entries.append(.decoder(decoder)) }
    func record(_ unknown: XMLError) { entries.append(.unknown(unknown)) }

    /// The first attribute or child element no decoder asked for.
    func firstUnknown() -> XMLError? {
        for entry in entries {
            switch entry {
            case .unknown(let error):
                return error
            case .decoder(let decoder):
                if let attribute = decoder.element.attributes.first(where: { !decoder.names.contains($0.name) }) {
                    return XMLError(path: describe(decoder.codingPath), problem: "unknown attribute \(attribute.name)")
                }
                if let child = decoder.element.children.first(where: { !decoder.names.contains($0.name) }) {
                    return XMLError(path: describe(decoder.codingPath), problem: "unknown element <\(child.name)>")
                }
            }
        }
        return nil
    }
}

// MARK: Decoding

/// One element being decoded. A class, and its coding path built only when asked for (an
/// error): values passed by the thousand per message (the containers, a field's decoder) are
/// then a reference and a name, which Swift keeps without a heap box, and no path array is built
/// per element.
final class ElementDecoder: Decoder {
    let element: XMLElement
    private let parent: ElementDecoder?
    private let name: String
    /// Its place in a list of elements of one name.
    private let index: Int?
    unowned let usage: ElementUsage
    /// The attributes and children asked for (few per element: a list beats hashing).
    fileprivate(set) var names: [String] = []
    var userInfo: [CodingUserInfoKey: Any] { [:] }

    /// The root element.
    convenience init(root: XMLElement, usage: ElementUsage) {
        self.init(element: root, name: root.name, index: nil, parent: nil, usage: usage)
    }

    init(element: XMLElement, name: String, index: Int?, parent: ElementDecoder?, usage: ElementUsage) {
        self.element = element
        self.name = name
        self.index = index
        self.parent = parent
        self.usage = usage
        usage.record(self)
    }

    var codingPath: [any CodingKey] {
        var path = parent?.codingPath ?? []
        path.append(XMLKey(element: name))
        if let index { path.append(IndexKey(index)) }
        return path
    }

    func container<Key: CodingKey>(keyedBy type: Key.Type) throws -> KeyedDecodingContainer<Key> {
        KeyedDecodingContainer(ElementContainer<Key>(decoder: self))
    }

    func unkeyedContainer() throws -> any UnkeyedDecodingContainer {
        throw XMLError(path: describe(codingPath), problem: "is one element, not a list")
    }

    func singleValueContainer() throws -> any SingleValueDecodingContainer {
        throw XMLError(path: describe(codingPath), problem: "is an element, not a value")
    }

    func mark(_ name: String) {
        guard !names.contains(name) else { return }
        // One allocation for the usual case (every name the element has), not one per growth.
        if names.isEmpty { names.reserveCapacity(element.attributes.count + element.children.count + 1) }
        names.append(name)
    }

    /// The child element `name` at `index` of its list (nil: the only one of its name).
    func child(_ element: XMLElement, name: String, index: Int?) -> ElementDecoder {
        ElementDecoder(element: element, name: name, index: index, parent: self, usage: usage)
    }
}

struct ElementContainer<Key: CodingKey>: KeyedDecodingContainerProtocol {
    let decoder: ElementDecoder
    var codingPath: [any CodingKey] { decoder.codingPath }
    var allKeys: [Key] {
        (decoder.element.attributes.map(\.name) + decoder.element.children.map(\.name)).compactMap { Key(stringValue: $0) }
    }

    func contains(_ key: Key) -> Bool {
        decoder.mark(key.stringValue)
        return decoder.element.attribute(key.stringValue) != nil || decoder.element.children.contains { $0.name == key.stringValue }
    }

    func decodeNil(forKey key: Key) throws -> Bool { !contains(key) }

    /// A scalar is the attribute of that name: read by the attribute container, which also
    /// decodes the simple types.
    private func attribute(_ key: Key) -> AttributeValue {
        decoder.mark(key.stringValue)
        return AttributeValue(parent: decoder, name: key.stringValue)
    }

    func decode(_ type: String.Type, forKey key: Key) throws -> String { try attribute(key).decode(type) }
    func decode(_ type: Bool.Type, forKey key: Key) throws -> Bool { try attribute(key).decode(type) }
    func decode(_ type: Int.Type, forKey key: Key) throws -> Int { try attribute(key).decode(type) }
    func decode(_ type: Int64.Type, forKey key: Key) throws -> Int64 { try attribute(key).decode(type) }
    func decode(_ type: Int32.Type, forKey key: Key) throws -> Int32 { try attribute(key).decode(type) }
    func decode(_ type: Int16.Type, forKey key: Key) throws -> Int16 { try attribute(key).decode(type) }
    func decode(_ type: Int8.Type, forKey key: Key) throws -> Int8 { try attribute(key).decode(type) }
    func decode(_ type: UInt.Type, forKey key: Key) throws -> UInt { try attribute(key).decode(type) }
    func decode(_ type: UInt64.Type, forKey key: Key) throws -> UInt64 { try attribute(key).decode(type) }
    func decode(_ type: UInt32.Type, forKey key: Key) throws -> UInt32 { try attribute(key).decode(type) }
    func decode(_ type: UInt16.Type, forKey key: Key) throws -> UInt16 { try attribute(key).decode(type) }
    func decode(_ type: UInt8.Type, forKey key: Key) throws -> UInt8 { try attribute(key).decode(type) }
    func decode(_ type: Double.Type, forKey key: Key) throws -> Double { try attribute(key).decode(type) }
    func decode(_ type: Float.Type, forKey key: Key) throws -> Float { try attribute(key).decode(type) }

    func decode<T: Decodable>(_ type: T.Type, forKey key: Key) throws -> T {
        decoder.mark(key.stringValue)
        return try T(from: FieldDecoder(parent: decoder, name: key.stringValue))
    }

    func nestedContainer<NestedKey: CodingKey>(keyedBy type: NestedKey.Type, forKey key: Key) throws -> KeyedDecodingContainer<NestedKey> {
        decoder.mark(key.stringValue)
        return try FieldDecoder(parent: decoder, name: key.stringValue).container(keyedBy: type)
    }

    func nestedUnkeyedContainer(forKey key: Key) throws -> any UnkeyedDecodingContainer {
        decoder.mark(key.stringValue)
        return try FieldDecoder(parent: decoder, name: key.stringValue).unkeyedContainer()
    }

    func superDecoder() throws -> any Decoder { decoder }
    func superDecoder(forKey key: Key) throws -> any Decoder { FieldDecoder(parent: decoder, name: key.stringValue) }
}

/// The value named `name` in an element, before its type says whether it is an attribute, one
/// child element or a list of them.
struct FieldDecoder: Decoder {
    let parent: ElementDecoder
    let name: String
    var codingPath: [any CodingKey] { parent.codingPath + [XMLKey(element: name)] }
    var userInfo: [CodingUserInfoKey: Any] { [:] }

    func container<Key: CodingKey>(keyedBy type: Key.Type) throws -> KeyedDecodingContainer<Key> {
        let matches = parent.element.children.filter { $0.name == name }
        guard matches.count == 1 else {
            throw XMLError(path: describe(parent.codingPath),
                           problem: matches.isEmpty ? "element <\(name)> is required" : "element <\(name)> may appear once, not \(matches.count) times")
        }
        return try parent.child(matches[0], name: name, index: nil).container(keyedBy: type)
    }

    func unkeyedContainer() throws -> any UnkeyedDecodingContainer {
        if parent.element.attribute(name) != nil {
            throw XMLError(path: describe(parent.codingPath + [XMLKey(attribute: name)]), problem: "must be elements, not an attribute")
        }
        return ElementList(parent: parent, name: name, elements: parent.element.children.filter { $0.name == name })
    }

    func singleValueContainer() throws -> any SingleValueDecodingContainer {
        AttributeValue(parent: parent, name: name)
    }
}

/// The children of one name, decoded in document order.
struct ElementList: UnkeyedDecodingContainer {
    let parent: ElementDecoder
    let name: String
    let elements: [XMLElement]
    var currentIndex = 0
    /// Whether the list's type is read without containers, looked up once for the list.
    fileprivate var flatType: (any AttributesOnlyElement.Type)??
    /// The reader those elements share (one per list, not a decoder per element).
    fileprivate var reader: AttributeReader?
    var count: Int? { elements.count }
    var isAtEnd: Bool { currentIndex >= elements.count }
    var codingPath: [any CodingKey] { parent.codingPath + [XMLKey(element: name)] }

    mutating func decodeNil() throws -> Bool { false }

    mutating func decode<T: Decodable>(_ type: T.Type) throws -> T {
        guard !isAtEnd else { throw XMLError(path: describe(codingPath), problem: "no more elements") }
        let element = elements[currentIndex], index = currentIndex
        currentIndex += 1
        if flatType == nil { flatType = .some(T.self as? any AttributesOnlyElement.Type) }
        if let flat = flatType!, AttributeReader.canRead(element) {
            if reader == nil { reader = AttributeReader(parent: parent, name: name) }
            return try reader!.read(flat, element, index: index) as! T
        }
        return try T(from: parent.child(element, name: name, index: index))
    }

    mutating func nestedContainer<NestedKey: CodingKey>(keyedBy type: NestedKey.Type) throws -> KeyedDecodingContainer<NestedKey> {
        guard !isAtEnd else { throw XMLError(path: describe(codingPath), problem: "no more elements") }
        let decoder = parent.child(elements[currentIndex], name: name, index: currentIndex)
        currentIndex += 1
        return try decoder.container(keyedBy: type)
    }

    mutating func nestedUnkeyedContainer() throws -> any UnkeyedDecodingContainer {
        throw XMLError(path: describe(codingPath), problem: "lists of lists do not occur in UFTP")
    }

    mutating func superDecoder() throws -> any Decoder {
        throw XMLError(path: describe(codingPath), problem: "unsupported")
    }
}

/// An attribute's text, for the simple types (`Period`, `EntityAddress`, …).
struct AttributeValue: SingleValueDecodingContainer {
    let parent: ElementDecoder
    let name: String
    var codingPath: [any CodingKey] { parent.codingPath + [XMLKey(attribute: name)] }

    func decodeNil() -> Bool { parent.element.attribute(name) == nil }

    func decode(_ type: String.Type) throws -> String {
        guard let value = parent.element.attribute(name) else {
            let problem = parent.element.children.contains { $0.name == name } ? "must be an attribute, not an element" : "is required"
            throw XMLError(path: describe(codingPath), problem: problem)
        }
        return value
    }

    private func parse<T>(_ what: String, _ convert: (String) -> T?) throws -> T {
        let value = try decode(String.self)
        guard let parsed = convert(value) else { throw XMLError(path: describe(codingPath), problem: "must be \(what), not \"\(value)\"") }
        return parsed
    }

    func decode(_ type: Bool.Type) throws -> Bool { try parse("true or false", XMLScalar.boolean) }
    func decode(_ type: Int.Type) throws -> Int { try parse("an integer", XMLScalar.integer) }
    func decode(_ type: Int64.Type) throws -> Int64 { try parse("an integer", XMLScalar.integer) }
    func decode(_ type: Int32.Type) throws -> Int32 { try parse("an integer", XMLScalar.integer) }
    func decode(_ type: Int16.Type) throws -> Int16 { try parse("an integer", XMLScalar.integer) }
    func decode(_ type: Int8.Type) throws -> Int8 { try parse("an integer", XMLScalar.integer) }
    func decode(_ type: UInt.Type) throws -> UInt { try parse("an integer ≥ 0", XMLScalar.integer) }
    func decode(_ type: UInt64.Type) throws -> UInt64 { try parse("an integer ≥ 0", XMLScalar.integer) }
    func decode(_ type: UInt32.Type) throws -> UInt32 { try parse("an integer ≥ 0", XMLScalar.integer) }
    func decode(_ type: UInt16.Type) throws -> UInt16 { try parse("an integer ≥ 0", XMLScalar.integer) }
    func decode(_ type: UInt8.Type) throws -> UInt8 { try parse("an integer ≥ 0", XMLScalar.integer) }
    func decode(_ type: Double.Type) throws -> Double { try parse("a number", { Double($0) }) }
    func decode(_ type: Float.Type) throws -> Float { try parse("a number", { Float($0) }) }

    func decode<T: Decodable>(_ type: T.Type) throws -> T {
        try T(from: FieldDecoder(parent: parent, name: name))
    }
}

/// XSD lexical forms of the built-in scalars.
enum XMLScalar {
    /// `xs:boolean`: true, false, 1 or 0.
    static func boolean(_ text: String) -> Bool? {
        switch text {
        case "true", "1": return true
        case "false", "0": return false
        default: return nil
        }
    }

    /// `xs:integer` and its restrictions: optional sign and digits (leading zeros allowed).
    /// One pass over the bytes (a message has hundreds): nil for anything else or out of range.
    static func integer<T: FixedWidthInteger>(_ text: String) -> T? {
        var bytes = text.utf8.makeIterator()
        guard var byte = bytes.next() else { return nil }
        let negative = byte == UInt8(ascii: "-")
        if negative || byte == UInt8(ascii: "+") {
            guard let next = bytes.next() else { return nil }
            byte = next
        }
        var value: T = 0
        while true {
            guard Lexical.isDigit(byte) else { return nil }
            let digit = T(byte &- 0x30)
            let (shifted, overflow) = value.multipliedReportingOverflow(by: 10)
            // Accumulated on the sign's side, so the most negative value is reached too.
            let (sum, overflow2) = negative ? shifted.subtractingReportingOverflow(digit) : shifted.addingReportingOverflow(digit)
            guard !overflow, !overflow2 else { return nil }
            value = sum
            guard let next = bytes.next() else { return value }
            byte = next
        }
    }
}

// MARK: Encoding

/// An element being built: attributes and children in the order they are encoded (the order of
/// each type's coding keys, which follows the XSD).
final class ElementBuilder: XMLTree {
    let name: String
    var attributes: [XMLElement.Attribute] = []
    var children: [ElementBuilder] = []

    init(name: String) { self.name = name }

    var childElements: [ElementBuilder] { children }

    var element: XMLElement {
        XMLElement(name: name, attributes: attributes, children: children.map(\.element))
    }

    func set(_ name: String, _ value: String) {
        attributes.removeAll { $0.name == name }
        attributes.append(.init(name: name, value: value))
    }
}

/// One element being encoded: a class with its coding path built only when asked for, as for
/// decoding.
final class ElementEncoder: Encoder {
    let builder: ElementBuilder
    private let parent: ElementEncoder?
    var userInfo: [CodingUserInfoKey: Any] { [:] }

    init(builder: ElementBuilder, parent: ElementEncoder? = nil) {
        self.builder = builder
        self.parent = parent
    }

    var codingPath: [any CodingKey] { (parent?.codingPath ?? []) + [XMLKey(element: builder.name)] }

    func container<Key: CodingKey>(keyedBy type: Key.Type) -> KeyedEncodingContainer<Key> {
        KeyedEncodingContainer(ElementEncodingContainer<Key>(encoder: self))
    }

    func unkeyedContainer() -> any UnkeyedEncodingContainer {
        preconditionFailure("\(describe(codingPath)) is one element, not a list")
    }

    func singleValueContainer() -> any SingleValueEncodingContainer {
        preconditionFailure("\(describe(codingPath)) is an element, not a value")
    }
}

struct ElementEncodingContainer<Key: CodingKey>: KeyedEncodingContainerProtocol {
    let encoder: ElementEncoder
    var codingPath: [any CodingKey] { encoder.codingPath }

    /// A scalar is the attribute of that name, written by the attribute container.
    private func attribute(_ key: Key) -> AttributeEncoder { AttributeEncoder(parent: encoder, name: key.stringValue) }

    mutating func encodeNil(forKey key: Key) throws {}
    mutating func encode(_ value: String, forKey key: Key) throws { var a = attribute(key); try a.encode(value) }
    mutating func encode(_ value: Bool, forKey key: Key) throws { var a = attribute(key); try a.encode(value) }
    mutating func encode(_ value: Int, forKey key: Key) throws { var a = attribute(key); try a.encode(value) }
    mutating func encode(_ value: Int64, forKey key: Key) throws { var a = attribute(key); try a.encode(value) }
    mutating func encode(_ value: Int32, forKey key: Key) throws { var a = attribute(key); try a.encode(value) }
    mutating func encode(_ value: Int16, forKey key: Key) throws { var a = attribute(key); try a.encode(value) }
    mutating func encode(_ value: Int8, forKey key: Key) throws { var a = attribute(key); try a.encode(value) }
    mutating func encode(_ value: UInt, forKey key: Key) throws { var a = attribute(key); try a.encode(value) }
    mutating func encode(_ value: UInt64, forKey key: Key) throws { var a = attribute(key); try a.encode(value) }
    mutating func encode(_ value: UInt32, forKey key: Key) throws { var a = attribute(key); try a.encode(value) }
    mutating func encode(_ value: UInt16, forKey key: Key) throws { var a = attribute(key); try a.encode(value) }
    mutating func encode(_ value: UInt8, forKey key: Key) throws { var a = attribute(key); try a.encode(value) }
    mutating func encode(_ value: Double, forKey key: Key) throws { var a = attribute(key); try a.encode(value) }
    mutating func encode(_ value: Float, forKey key: Key) throws { var a = attribute(key); try a.encode(value) }

    mutating func encode<T: Encodable>(_ value: T, forKey key: Key) throws {
        try value.encode(to: FieldEncoder(parent: encoder, name: key.stringValue))
    }

    mutating func nestedContainer<NestedKey: CodingKey>(keyedBy keyType: NestedKey.Type, forKey key: Key) -> KeyedEncodingContainer<NestedKey> {
        FieldEncoder(parent: encoder, name: key.stringValue).container(keyedBy: keyType)
    }

    mutating func nestedUnkeyedContainer(forKey key: Key) -> any UnkeyedEncodingContainer {
        FieldEncoder(parent: encoder, name: key.stringValue).unkeyedContainer()
    }

    mutating func superEncoder() -> any Encoder { encoder }
    mutating func superEncoder(forKey key: Key) -> any Encoder { FieldEncoder(parent: encoder, name: key.stringValue) }
}

/// The value named `name`: an attribute when encoded as a single value, a child element when
/// keyed, one child element per item when a list.
struct FieldEncoder: Encoder {
    let parent: ElementEncoder
    let name: String
    var codingPath: [any CodingKey] { parent.codingPath + [XMLKey(element: name)] }
    var userInfo: [CodingUserInfoKey: Any] { [:] }

    func container<Key: CodingKey>(keyedBy type: Key.Type) -> KeyedEncodingContainer<Key> {
        let child = ElementBuilder(name: name)
        parent.builder.children.append(child)
        return ElementEncoder(builder: child, parent: parent).container(keyedBy: type)
    }

    func unkeyedContainer() -> any UnkeyedEncodingContainer { ElementListEncoder(parent: parent, name: name) }

    func singleValueContainer() -> any SingleValueEncodingContainer { AttributeEncoder(parent: parent, name: name) }
}

struct ElementListEncoder: UnkeyedEncodingContainer {
    let parent: ElementEncoder
    let name: String
    var count = 0
    var codingPath: [any CodingKey] { parent.codingPath + [XMLKey(element: name)] }

    mutating func encodeNil() throws {}

    mutating func encode<T: Encodable>(_ value: T) throws {
        count += 1
        if let flat = value as? any AttributesOnlyElement {
            let child = ElementBuilder(name: name)
            parent.builder.children.append(child)
            flat.write(AttributeWriter(builder: child))
            return
        }
        try value.encode(to: FieldEncoder(parent: parent, name: name))
    }

    mutating func nestedContainer<NestedKey: CodingKey>(keyedBy keyType: NestedKey.Type) -> KeyedEncodingContainer<NestedKey> {
        count += 1
        return FieldEncoder(parent: parent, name: name).container(keyedBy: keyType)
    }

    mutating func nestedUnkeyedContainer() -> any UnkeyedEncodingContainer {
        preconditionFailure("lists of lists do not occur in UFTP")
    }

    mutating func superEncoder() -> any Encoder { FieldEncoder(parent: parent, name: name) }
}

struct AttributeEncoder: SingleValueEncodingContainer {
    let parent: ElementEncoder
    let name: String
    var codingPath: [any CodingKey] { parent.codingPath + [XMLKey(attribute: name)] }

    mutating func encodeNil() throws {}
    mutating func encode(_ value: String) throws { parent.builder.set(name, value) }
    mutating func encode(_ value: Bool) throws { parent.builder.set(name, value ? "true" : "false") }
    mutating func encode(_ value: Int) throws { parent.builder.set(name, String(value)) }
    mutating func encode(_ value: Int64) throws { parent.builder.set(name, String(value)) }
    mutating func encode(_ value: Int32) throws { parent.builder.set(name, String(value)) }
    mutating func encode(_ value: Int16) throws { parent.builder.set(name, String(value)) }
    mutating func encode(_ value: Int8) throws { parent.builder.set(name, String(value)) }
    mutating func encode(_ value: UInt) throws { parent.builder.set(name, String(value)) }
    mutating func encode(_ value: UInt64) throws { parent.builder.set(name, String(value)) }
    mutating func encode(_ value: UInt32) throws { parent.builder.set(name, String(value)) }
    mutating func encode(_ value: UInt16) throws { parent.builder.set(name, String(value)) }
    mutating func encode(_ value: UInt8) throws { parent.builder.set(name, String(value)) }
    mutating func encode(_ value: Double) throws { parent.builder.set(name, String(value)) }
    mutating func encode(_ value: Float) throws { parent.builder.set(name, String(value)) }

    mutating func encode<T: Encodable>(_ value: T) throws {
        try value.encode(to: FieldEncoder(parent: parent, name: name))
    }
}
