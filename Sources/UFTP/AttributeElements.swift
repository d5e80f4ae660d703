/// A list element that is attributes only (an ISP), read and written without Codable's
/// containers: a message carries up to 100 of them a list, and Codable's boxes and calls per
/// value were most of the codec's time. Its Codable conformance stays and must agree: the same
/// attributes, read in the order of its properties and written in the order of its CodingKeys,
/// with the same errors.
protocol AttributesOnlyElement: Codable {
    init(_ attributes: AttributeReader) throws
    func write(_ attributes: AttributeWriter)
}

/// Reads the attributes-only elements of a list as the Codable decoder would, with the same error
/// for the same fault and the same unknown attributes, but without a decoder per element: one
/// reader serves the list, the attributes asked for are bits.
final class AttributeReader {
    private let parent: ElementDecoder
    private let name: String
    private var element = XMLElement(name: "")
    private var index = 0
    private var asked: UInt64 = 0

    init(parent: ElementDecoder, name: String) {
        self.parent = parent
        self.name = name
    }

    /// Elements read this way: no children (the Codable path names them), ≤ 64 attributes.
    static func canRead(_ element: XMLElement) -> Bool {
        element.children.isEmpty && element.attributes.count <= UInt64.bitWidth
    }

    func read<T: AttributesOnlyElement>(_ type: T.Type, _ element: XMLElement, index: Int) throws -> T {
        self.element = element
        self.index = index
        asked = 0
        let value = try T(self)
        if asked.nonzeroBitCount < element.attributes.count,
           let unknown = element.attributes.indices.first(where: { asked & (1 << UInt64($0)) == 0 }) {
            parent.usage.record(XMLError(path: describe(elementPath), problem: "unknown attribute \(element.attributes[unknown].name)"))
        }
        return value
    }

    private var elementPath: [any CodingKey] { parent.codingPath + [XMLKey(element: name), IndexKey(index)] }

    private func fault(_ key: some CodingKey, _ problem: String) -> XMLError {
        XMLError(path: describe(elementPath + [XMLKey(attribute: key.stringValue)]), problem: problem)
    }

    /// The attribute's text, marked as asked for (nil: absent).
    private func text(ifPresent key: some CodingKey) -> String? {
        let name = key.stringValue
        guard let at = element.attributes.firstIndex(where: { $0.name == name }) else { return nil }
        asked |= 1 << UInt64(at)
        return element.attributes[at].value
    }

    private func text(_ key: some CodingKey) throws -> String {
        guard let text = text(ifPresent: key) else { throw fault(key, "is required") }
        return text
    }

    func integer(_ key: some CodingKey) throws -> Int {
        let text = try text(key)
        guard let value: Int = XMLScalar.integer(text) else { throw fault(key, "must be an integer, not \"\(text)\"") }
        return value
    }

    func integer(ifPresent key: some CodingKey) throws -> Int? {
        text(ifPresent: key) == nil ? nil : try integer(key)
    }

    func value<T: UFTPSimpleType>(_ key: some CodingKey) throws -> T {
        let text = try text(key)
        do {
            return try T(validating: text)
        } catch {
            throw fault(key, error.problem)
        }
    }

    func value<T: UFTPSimpleType>(ifPresent key: some CodingKey) throws -> T? {
        text(ifPresent: key) == nil ? nil : try value(key) as T
    }

    func value<T: UFTPEnumeration>(ifPresent key: some CodingKey) throws -> T? {
        guard let text = text(ifPresent: key) else { return nil }
        guard let parsed = T(rawValue: text) else {
            throw fault(key, "must be one of \(T.allCases.map(\.rawValue).joined(separator: ", ")), not \"\(text)\"")
        }
        return parsed
    }
}

/// Writes one element's attributes as the Codable encoder would (absent values left out).
struct AttributeWriter {
    let builder: ElementBuilder

    func callAsFunction(_ key: some CodingKey, _ value: Int?) {
        if let value { builder.set(key.stringValue, String(value)) }
    }

    func callAsFunction(_ key: some CodingKey, _ value: (some UFTPSimpleType)?) {
        if let value { builder.set(key.stringValue, value.text) }
    }

    func callAsFunction(_ key: some CodingKey, _ value: (some UFTPEnumeration)?) {
        if let value { builder.set(key.stringValue, value.rawValue) }
    }
}
