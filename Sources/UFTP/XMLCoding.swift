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

/// Which attributes and children of each decoded element were asked for: what is left over is
/// not part of the message type, and the message is refused for it.
final class ElementUsage {
    struct Entry {
        let element: XMLElement
        let path: [any CodingKey]
        /// Few per element: a list beats hashing.
        var names: [String] = []
    }
    var entries: [Entry] = []

    func register(_ element: XMLElement, path: [any CodingKey]) -> Int {
        entries.append(Entry(element: element, path: path))
        return entries.count - 1
    }

    /// The first attribute or child element no decoder asked for.
    func firstUnknown() -> XMLError? {
        for entry in entries {
            if let attribute = entry.element.attributes.first(where: { !entry.names.contains($0.name) }) {
                return XMLError(path: describe(entry.path), problem: "unknown attribute \(attribute.name)")
            }
            if let child = entry.element.children.first(where: { !entry.names.contains($0.name) }) {
                return XMLError(path: describe(entry.path), problem: "unknown element <\(child.name)>")
            }
        }
        return nil
    }
}

// MARK: Decoding

struct ElementDecoder: Decoder {
    let element: XMLElement
    let codingPath: [any CodingKey]
    let usage: ElementUsage
    let slot: Int
    var userInfo: [CodingUserInfoKey: Any] { [:] }

    init(element: XMLElement, path: [any CodingKey], usage: ElementUsage) {
        self.element = element
        self.codingPath = path
        self.usage = usage
        self.slot = usage.register(element, path: path)
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
        if !usage.entries[slot].names.contains(name) { usage.entries[slot].names.append(name) }
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
        return try ElementDecoder(element: matches[0], path: codingPath, usage: parent.usage).container(keyedBy: type)
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
    var count: Int? { elements.count }
    var isAtEnd: Bool { currentIndex >= elements.count }
    var codingPath: [any CodingKey] { parent.codingPath + [XMLKey(element: name)] }

    mutating func decodeNil() throws -> Bool { false }

    mutating func decode<T: Decodable>(_ type: T.Type) throws -> T {
        guard !isAtEnd else { throw XMLError(path: describe(codingPath), problem: "no more elements") }
        let decoder = ElementDecoder(element: elements[currentIndex], path: codingPath + [IndexKey(currentIndex)], usage: parent.usage)
        currentIndex += 1
        return try T(from: decoder)
    }

    mutating func nestedContainer<NestedKey: CodingKey>(keyedBy type: NestedKey.Type) throws -> KeyedDecodingContainer<NestedKey> {
        guard !isAtEnd else { throw XMLError(path: describe(codingPath), problem: "no more elements") }
        let decoder = ElementDecoder(element: elements[currentIndex], path: codingPath + [IndexKey(currentIndex)], usage: parent.usage)
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
    static func integer<T: FixedWidthInteger>(_ text: String) -> T? {
        let digits = text.hasPrefix("+") || text.hasPrefix("-") ? text.dropFirst() : Substring(text)
        guard !digits.isEmpty, digits.utf8.allSatisfy(Lexical.isDigit) else { return nil }
        return T(text.hasPrefix("+") ? String(text.dropFirst()) : text)
    }
}

// MARK: Encoding

/// An element being built: attributes and children in the order they are encoded (the order of
/// each type's coding keys, which follows the XSD).
final class ElementBuilder {
    let name: String
    var attributes: [XMLElement.Attribute] = []
    var children: [ElementBuilder] = []

    init(name: String) { self.name = name }

    var element: XMLElement {
        XMLElement(name: name, attributes: attributes, children: children.map(\.element))
    }

    func set(_ name: String, _ value: String) {
        attributes.removeAll { $0.name == name }
        attributes.append(.init(name: name, value: value))
    }
}

struct ElementEncoder: Encoder {
    let builder: ElementBuilder
    let codingPath: [any CodingKey]
    var userInfo: [CodingUserInfoKey: Any] { [:] }

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
        return ElementEncoder(builder: child, codingPath: codingPath).container(keyedBy: type)
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
