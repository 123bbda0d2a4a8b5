import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// Where a URL chosen by a request (a WES server, a webhook watcher) may point. The operator may
/// allow only some hosts (`WFL_OUTBOUND_ALLOW`) and deny more (`WFL_OUTBOUND_DENY`); by default
/// any host is allowed except link-local and cloud-metadata addresses (169.254.169.254 and
/// friends), which would hand the machine's own credentials to whoever wrote the request.
/// Names are resolved and every address checked, so a name pointing at a denied address is
/// refused too.
package struct OutboundPolicy: Sendable {
    let allow: [String]
    let deny: [String]

    static let deniedNames: Set<String> = [
        "metadata", "metadata.google.internal", "metadata.goog", "instance-data",
        "instance-data.ec2.internal",
    ]
    /// IPv4 ranges never reached: "this network", link-local (cloud metadata), Alibaba's metadata.
    static let deniedIPv4: [(base: UInt32, bits: Int)] = [(0x0000_0000, 8), (0xA9FE_0000, 16), (0x6464_64C8, 32)]

    package init(_ settings: Settings) {
        allow = settings.list(.outboundAllow).map { $0.lowercased() }
        deny = settings.list(.outboundDeny).map { $0.lowercased() }
    }

    /// Why `url` may not be called; nil when it may.
    package func problem(url: String) -> String? {
        guard let host = URLComponents(string: url)?.host?.lowercased().trimmingCharacters(in: CharacterSet(charactersIn: "[]")),
            !host.isEmpty
        else { return "\(Constraint.excerpt(url)) has no host" }
        if !allow.isEmpty && !allow.contains(where: { Self.matches(host, $0) }) {
            return "\(host) is not among the hosts this launcher may call (WFL_OUTBOUND_ALLOW)"
        }
        if Self.deniedNames.contains(host) || deny.contains(where: { Self.matches(host, $0) }) {
            return "\(host) is a host this launcher may not call"
        }
        for address in Self.addresses(host) {
            if let reason = denied(address) { return "\(host) resolves to \(address), \(reason)" }
        }
        return nil
    }

    private func denied(_ address: String) -> String? {
        if let v4 = Self.ipv4(address) {
            for (base, bits) in Self.deniedIPv4 where Self.inRange(v4, base, bits) { return "a link-local or metadata address" }
            for rule in deny {
                if let (base, bits) = Self.cidr(rule), Self.inRange(v4, base, bits) { return "which WFL_OUTBOUND_DENY refuses" }
                if rule.hasSuffix("."), address.hasPrefix(rule) { return "which WFL_OUTBOUND_DENY refuses" }
            }
        } else if address.lowercased() == "fd00:ec2::254" {
            return "a cloud metadata address"
        } else if address.lowercased().hasPrefix("fe8") || address.lowercased().hasPrefix("fe9")
            || address.lowercased().hasPrefix("fea") || address.lowercased().hasPrefix("feb")
        {
            return "a link-local address"
        } else if let mapped = address.lowercased().split(separator: ":").last, address.lowercased().hasPrefix("::ffff:"),
            let v4 = Self.ipv4(String(mapped)), Self.deniedIPv4.contains(where: { Self.inRange(v4, $0.base, $0.bits) })
        {
            return "a link-local or metadata address"
        }
        return nil
    }

    static func matches(_ host: String, _ rule: String) -> Bool {
        rule.hasPrefix(".") ? host.hasSuffix(rule) || host == String(rule.dropFirst()) : host == rule
    }

    static func ipv4(_ text: String) -> UInt32? {
        let parts = text.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 4 else { return nil }
        var value: UInt32 = 0
        for part in parts {
            guard let byte = UInt8(part) else { return nil }
            value = value << 8 | UInt32(byte)
        }
        return value
    }

    static func cidr(_ text: String) -> (UInt32, Int)? {
        let parts = text.split(separator: "/")
        guard parts.count == 2, let base = ipv4(String(parts[0])), let bits = Int(parts[1]), (0...32).contains(bits) else { return nil }
        return (base, bits)
    }

    static func inRange(_ address: UInt32, _ base: UInt32, _ bits: Int) -> Bool {
        let mask: UInt32 = bits == 0 ? 0 : ~UInt32(0) << UInt32(32 - bits)
        return address & mask == base & mask
    }

    /// The host's addresses as text, as the resolver reads it: the host itself only when it is a
    /// plain dotted quad. Anything else goes through getaddrinfo, which is what the HTTP client
    /// connects with, so `0251.0376.0251.0376` (octal), `2852039166` and `[::ffff:a9fe:a9fe]`
    /// come back as the metadata address they name, in canonical text.
    static func addresses(_ host: String) -> [String] {
        let parts = host.split(separator: ".", omittingEmptySubsequences: false)
        if ipv4(host) != nil, parts.allSatisfy({ UInt8($0).map(String.init) == String($0) }) { return [host] }
        var hints = addrinfo()
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        var result: UnsafeMutablePointer<addrinfo>?
        guard getaddrinfo(host, nil, &hints, &result) == 0, let first = result else { return [] }
        defer { freeaddrinfo(first) }
        var found: [String] = []
        var cursor: UnsafeMutablePointer<addrinfo>? = first
        while let info = cursor {
            var buffer = [CChar](repeating: 0, count: Int(NI_MAXHOST))
            if getnameinfo(info.pointee.ai_addr, info.pointee.ai_addrlen, &buffer, socklen_t(buffer.count), nil, 0, NI_NUMERICHOST) == 0 {
                found.append(String(cString: buffer))
            }
            cursor = info.pointee.ai_next
        }
        return found
    }
}
