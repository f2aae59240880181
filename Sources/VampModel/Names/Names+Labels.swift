/// Names that become DNS labels.
///
/// Every http gateway gets Vamp's default virtual hosts (`vamp.operation.gateway.virtual-hosts`): `<name>.vamp` for a
/// gateway of one segment, `<port>.<deployment>.vamp` for `deployment/port` and `<port>.<cluster>.<deployment>.vamp`
/// for a cluster's gateway `deployment/cluster/port`. Each segment of the gateway name becomes one DNS label, so a
/// deployment name, a cluster name, a port name or a gateway name that cannot be a label would give a virtual host
/// HAProxy's configuration cannot hold, and one such gateway used to stop every gateway from being updated.
extension Names {
    /// The most characters of a name that becomes a DNS label (RFC 1035: a label has at most 63 octets; every
    /// character of the name becomes one octet of the label).
    public static let maximumLabelLength = 63

    /// The DNS label `segment` becomes in a default virtual host: ASCII letters and digits stay, every other
    /// character (each Unicode scalar) becomes `-`: `sava:1.0` → `sava-1-0`.
    public static func virtualHostLabel(_ segment: some StringProtocol) -> String {
        String(String.UnicodeScalarView(segment.unicodeScalars.map { isASCIILetterOrDigit($0) ? $0 : "-" }))
    }

    /// Why `name` cannot become a DNS label of a default virtual host, or `nil` when it can: it must start and end
    /// with an ASCII letter or digit (a label may not start or end with `-`, which every other character becomes)
    /// and have at most ``maximumLabelLength`` characters. Characters between the first and the last are free, as
    /// Vamp's naming rules allow them (`sava:1.0`, `shop_v2`).
    public static func labelProblem(_ name: String) -> String? {
        let scalars = name.unicodeScalars
        guard let first = scalars.first, let last = scalars.last else { return "the name is empty" }
        let label = virtualHostLabel(name)
        if !isASCIILetterOrDigit(first) || !isASCIILetterOrDigit(last) {
            return "'\(printable(name))' must start and end with a letter or digit (a-z, A-Z, 0-9): it becomes the DNS label '\(printable(label))' of the gateways' default virtual hosts, and a label may not start or end with '-' (which every other character becomes)"
        }
        if scalars.count > maximumLabelLength {
            return "'\(printable(name))' has \(scalars.count) characters; at most \(maximumLabelLength) are allowed, because it becomes a DNS label of the gateways' default virtual hosts"
        }
        return nil
    }

    static func isASCIILetterOrDigit(_ scalar: Unicode.Scalar) -> Bool {
        ("a"..."z").contains(scalar) || ("A"..."Z").contains(scalar) || ("0"..."9").contains(scalar)
    }
}
