/// SHA-1, used only for stable lookup names and ACL ids (not for security).
package enum SHA1 {
    /// The 40-character lowercase hex digest of `text`'s UTF-8 bytes.
    package static func hex(_ text: String) -> String {
        var h: (UInt32, UInt32, UInt32, UInt32, UInt32) = (0x6745_2301, 0xEFCD_AB89, 0x98BA_DCFE, 0x1032_5476, 0xC3D2_E1F0)
        var utf8 = text.utf8.withContiguousStorageIfAvailable { Array($0) } ?? Array(text.utf8)
        let bitLength = UInt64(utf8.count) * 8
        utf8.append(0x80)
        while utf8.count % 64 != 56 { utf8.append(0) }
        for shift in stride(from: 56, through: 0, by: -8) { utf8.append(UInt8(truncatingIfNeeded: bitLength >> UInt64(shift))) }
        withUnsafeTemporaryAllocation(of: UInt32.self, capacity: 80) { w in
            utf8.withUnsafeBufferPointer { message in
                for chunk in stride(from: 0, to: message.count, by: 64) {
                    for i in 0..<16 {
                        let b = chunk + i * 4
                        w[i] = UInt32(message[b]) << 24 | UInt32(message[b + 1]) << 16 | UInt32(message[b + 2]) << 8 | UInt32(message[b + 3])
                    }
                    for i in 16..<80 {
                        let x = w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16]
                        w[i] = x << 1 | x >> 31
                    }
                    var (a, b, c, d, e) = h
                    for i in 0..<80 {
                        let f: UInt32
                        let k: UInt32
                        switch i {
                        case 0..<20: f = (b & c) | (~b & d); k = 0x5A82_7999
                        case 20..<40: f = b ^ c ^ d; k = 0x6ED9_EBA1
                        case 40..<60: f = (b & c) | (b & d) | (c & d); k = 0x8F1B_BCDC
                        default: f = b ^ c ^ d; k = 0xCA62_C1D6
                        }
                        let temp = (a << 5 | a >> 27) &+ f &+ e &+ k &+ w[i]
                        e = d; d = c; c = b << 30 | b >> 2; b = a; a = temp
                    }
                    h = (h.0 &+ a, h.1 &+ b, h.2 &+ c, h.3 &+ d, h.4 &+ e)
                }
            }
        }
        let digits: [UInt8] = Array("0123456789abcdef".utf8)
        return String(unsafeUninitializedCapacity: 40) { buffer in
            var index = 0
            for word in [h.0, h.1, h.2, h.3, h.4] {
                for shift in stride(from: 28, through: 0, by: -4) {
                    buffer[index] = digits[Int(word >> UInt32(shift) & 0xF)]
                    index += 1
                }
            }
            return 40
        }
    }
}
