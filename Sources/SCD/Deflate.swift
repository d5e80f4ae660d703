import CZlib

/// Raw DEFLATE (RFC 1951, no zlib header: the block format has its own framing) over zlib.
package enum Deflate {
    static func compress(_ input: [UInt8], level: Int32 = 9) -> [UInt8] {
        var stream = z_stream()
        guard deflateInit2_(&stream, level, Z_DEFLATED, -15, 9, Z_DEFAULT_STRATEGY, ZLIB_VERSION,
                            Int32(MemoryLayout<z_stream>.size)) == Z_OK else { fatalError("zlib: deflateInit2 failed") }
        defer { deflateEnd(&stream) }
        var output = [UInt8](repeating: 0, count: Int(deflateBound(&stream, UInt(input.count))))
        let produced = input.withUnsafeBufferPointer { source in
            output.withUnsafeMutableBufferPointer { target in
                stream.next_in = UnsafeMutablePointer(mutating: source.baseAddress)
                stream.avail_in = UInt32(source.count)
                stream.next_out = target.baseAddress
                stream.avail_out = UInt32(target.count)
                // deflateBound guarantees one call finishes.
                guard deflate(&stream, Z_FINISH) == Z_STREAM_END else { fatalError("zlib: deflate did not finish") }
                return Int(stream.total_out)
            }
        }
        output.removeSubrange(produced...)
        return output
    }

    /// Inflates at most `limit` bytes; nil if the data is not valid DEFLATE or inflates beyond it.
    static func decompress(_ input: UnsafeRawBufferPointer, limit: Int) -> [UInt8]? {
        var stream = z_stream()
        guard inflateInit2_(&stream, -15, ZLIB_VERSION, Int32(MemoryLayout<z_stream>.size)) == Z_OK else { return nil }
        defer { inflateEnd(&stream) }
        var output = [UInt8](repeating: 0, count: min(limit, max(4096, input.count * 8)))
        stream.next_in = UnsafeMutablePointer(mutating: input.baseAddress?.assumingMemoryBound(to: UInt8.self))
        stream.avail_in = UInt32(input.count)
        while true {
            let status = output.withUnsafeMutableBufferPointer { target in
                stream.next_out = target.baseAddress! + Int(stream.total_out)
                stream.avail_out = UInt32(target.count - Int(stream.total_out))
                return inflate(&stream, Z_NO_FLUSH)
            }
            if status == Z_STREAM_END { break }
            guard status == Z_OK || status == Z_BUF_ERROR, stream.avail_out == 0 else { return nil }
            guard output.count < limit else { return nil }
            output.append(contentsOf: repeatElement(0, count: min(limit, output.count * 2) - output.count))
        }
        output.removeSubrange(Int(stream.total_out)...)
        return output
    }
}
