/// Node ids, PODs and meter names appear in MQTT topics, file names and logs: 1–64 characters
/// of A–Z, a–z, 0–9, '.', '_' or '-'.
public enum Identifier {
    public static let rule = "1–64 characters of A–Z, a–z, 0–9, '.', '_' or '-'"

    public static func isValid(_ value: String) -> Bool {
        !value.isEmpty && value.utf8.count <= 64 && value.utf8.allSatisfy { byte in
            (byte >= 0x30 && byte <= 0x39) || (byte | 0x20 >= 0x61 && byte | 0x20 <= 0x7A) || byte == 0x2E || byte == 0x5F || byte == 0x2D
        }
    }
}
