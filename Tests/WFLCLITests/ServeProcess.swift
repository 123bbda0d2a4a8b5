import AsyncHTTPClient
import Foundation
import LauncherCore
import LauncherSystem
import LauncherTestSupport
import NIOCore
import NIOHTTP1
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// `wfl serve` as a child process on a free loopback port, for tests that need the real thing:
/// raw sockets, signals, crashes, database outages.
final class ServeProcess: @unchecked Sendable {
    let port: Int
    let base: String
    let pidFile: String
    private let task: Task<Command.Result, any Error>

    /// Starts serve; the shell records its pid, then becomes wfl (exec), so signals reach wfl itself.
    init(
        wfl: WFLBinary, home: URL, interval: Double = 0.3, extra: [String: String] = [:], arguments: [String] = [],
        workingDirectory: String? = nil
    ) {
        port = Self.freePort()
        base = "http://127.0.0.1:\(port)"
        pidFile = home.appendingPathComponent("serve-\(port).pid").path
        let (pidFile, port) = (self.pidFile, self.port)
        let environment = wfl.environment.merging(extra) { _, new in new }
        task = Task {
            try await Command.run(
                [
                    "/bin/sh", "-c", "echo $$ > \(pidFile); exec \"$0\" \"$@\"", WFLBinary.path,
                    "serve", "--port", String(port), "--interval", String(interval),
                ] + arguments,
                environment: environment, workingDirectory: workingDirectory, timeout: .seconds(900))
        }
    }

    /// A port nothing listens on now: the kernel's choice for port 0 (a random pick collided
    /// with the many servers a test run starts).
    static func freePort() -> Int {
        guard let (fd, port) = LoopbackSocket.bind() else { return Int.random(in: 20_000..<60_000) }
        close(fd)
        return port
    }

    /// Set once stopped or crashed on purpose; until then, dropping this object kills the
    /// server, so a test that fails part way leaves no `wfl serve` behind to load the machine.
    private let ended = NSLock()
    private var isEnded = false

    deinit {
        ended.lock()
        let running = !isEnded
        ended.unlock()
        if running, let pid { kill(pid, SIGKILL) }
    }

    private func markEnded() {
        ended.lock()
        isEnded = true
        ended.unlock()
    }

    var pid: Int32? {
        (try? String(contentsOfFile: pidFile, encoding: .utf8)).flatMap { Int32($0.trimmingCharacters(in: .whitespacesAndNewlines)) }
    }

    /// What the server logged that says why it is unwell: its error and critical lines, then
    /// the end of the rest.
    static func diagnosis(_ stderr: String) -> String {
        let lines = stderr.split(separator: "\n")
        let errors = lines.filter { $0.contains(" error ") || $0.contains(" critical ") }.suffix(20).joined(separator: "\n")
        return "errors:\n\(errors)\nlast lines:\n\(lines.suffix(15).joined(separator: "\n"))"
    }

    /// Waits until healthy; records an issue with what the server logged when it does not
    /// become so (and stops it). Returns whether it did.
    func requireHealthy(sourceLocation: SourceLocation = #_sourceLocation) async -> Bool {
        if await waitHealthy() { return true }
        let result = try? await stop()
        Issue.record(
            "wfl serve did not become healthy (exit \(result?.status ?? -1)): \(Self.diagnosis(result?.stderr ?? ""))",
            sourceLocation: sourceLocation)
        return false
    }

    /// Waits until `/health` answers 200.
    func waitHealthy(timeout: Duration = .seconds(60)) async -> Bool {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if (try? await http(.GET, "/health"))?.status == 200 { return true }
            try? await Task.sleep(for: .milliseconds(150))
        }
        return false
    }

    func http(
        _ method: HTTPMethod, _ path: String, _ body: JSONValue? = nil, raw: String? = nil, headers: [(String, String)] = [],
        timeout: TimeAmount = .seconds(10)
    ) async throws -> (status: UInt, json: JSONValue, text: String, headers: HTTPHeaders) {
        var request = HTTPClientRequest(url: base + path)
        request.method = method
        for (name, value) in headers { request.headers.add(name: name, value: value) }
        if let text = raw ?? body?.description { request.body = .bytes(ByteBuffer(string: text)) }
        let response = try await HTTPClient.shared.execute(request, timeout: timeout)
        let text = String(buffer: try await response.body.collect(upTo: 1 << 26))
        return (response.status.code, (try? JSONValue.parse(text)) ?? .null, text, response.headers)
    }

    /// Sends bytes on a fresh connection and returns everything the server sent back before
    /// it closed (or `wait` passed: `closed` tells which).
    func raw(_ bytes: [UInt8], wait: Double = 5) -> (reply: String, closed: Bool) {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return ("", false) }
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard connected == 0 else { return ("", false) }
        var timeout = timeval(tv_sec: Int(wait), tv_usec: Int((wait - wait.rounded(.down)) * 1_000_000))
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        _ = bytes.withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
        var reply: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 65_536)
        while true {
            let count = recv(fd, &buffer, buffer.count, 0)
            if count > 0 {
                reply += buffer[0..<count]
                continue
            }
            return (String(decoding: reply, as: UTF8.self), count == 0)
        }
    }

    func signal(_ signal: Int32) {
        if let pid { kill(pid, signal) }
    }

    /// SIGTERM, then the process's result (SIGKILL after 30 s, or at once when it never
    /// recorded its pid).
    func stop() async throws -> Command.Result {
        defer { markEnded() }
        if pid == nil { task.cancel() }
        signal(SIGTERM)
        let killer = Task { [weak self] in
            try await Task.sleep(for: .seconds(30))
            self?.signal(SIGKILL)
        }
        defer { killer.cancel() }
        return try await task.value
    }

    /// kill -9: a crash.
    func crash() async -> Command.Result? {
        defer { markEnded() }
        signal(SIGKILL)
        return try? await task.value
    }
}
