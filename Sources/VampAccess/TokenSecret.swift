import Crypto
public import Foundation

/// Making and checking token secrets. A secret made here reads `vamp_<id>_<secret>`: the id finds its record without
/// trying every hash, the 32 random bytes after it are what makes it a secret. Only HMAC-SHA256(salt, whole secret)
/// is stored, with a random salt per token; checking compares the codes in constant time.
///
/// A fast keyed hash is enough here (no password hashing): the secrets are 256 random bits, not something a person
/// chose, so there is nothing to guess faster.
public enum TokenSecret {
    /// A new secret and the id inside it.
    public static func make() -> (secret: String, id: String) {
        let id = randomText(bytes: 6)
        return ("vamp_\(id)_\(randomText(bytes: 32))", id)
    }

    /// The id inside a secret made by ``make()``, or `nil` for a secret of another shape.
    public static func id(of secret: String) -> String? {
        let parts = secret.split(separator: "_", maxSplits: 2, omittingEmptySubsequences: false)
        guard parts.count == 3, parts[0] == "vamp", parts[1].count == 12, !parts[2].isEmpty else { return nil }
        return String(parts[1])
    }

    /// A new random salt and the hash of `secret` with it (hex).
    public static func hash(_ secret: String) -> (salt: String, hash: String) {
        let salt = SymmetricKey(size: .bits256)
        let code = HMAC<SHA256>.authenticationCode(for: Data(secret.utf8), using: salt)
        return (salt.withUnsafeBytes { hex($0) }, hex(code))
    }

    /// True when `secret` hashes to `hash` with `salt` (both hex); compared in constant time.
    public static func matches(_ secret: String, salt: String, hash: String) -> Bool {
        guard let key = bytes(hex: salt), let code = bytes(hex: hash) else { return false }
        return HMAC<SHA256>.isValidAuthenticationCode(code, authenticating: Data(secret.utf8), using: SymmetricKey(data: key))
    }

    static func randomText(bytes count: Int) -> String {
        var generator = SystemRandomNumberGenerator()
        let bytes = (0..<count).map { _ in UInt8.random(in: .min ... .max, using: &generator) }
        return hex(bytes)
    }

    static func hex<Bytes: Sequence<UInt8>>(_ bytes: Bytes) -> String {
        bytes.map { String(format: "%02x", $0) }.joined()
    }

    static func bytes(hex text: String) -> [UInt8]? {
        guard text.count % 2 == 0 else { return nil }
        var result: [UInt8] = []
        result.reserveCapacity(text.count / 2)
        var index = text.startIndex
        while index < text.endIndex {
            let next = text.index(index, offsetBy: 2)
            guard let byte = UInt8(text[index..<next], radix: 16) else { return nil }
            result.append(byte)
            index = next
        }
        return result
    }
}
