import Foundation
import LauncherCore
import LauncherStageSupport
import LauncherTestSupport
import NIOCore
import NIOHTTP1
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// A TCP server on 127.0.0.1 that reads each request and, for the first `dropFirst`
/// connections, closes without answering (as a server closing an idle keep-alive connection
/// the client had just reused); later connections get `{"ok": true}`. Counts the requests.
final class DroppingServer: @unchecked Sendable {
    let port: Int
    private let listener: Int32
    private let lock = NSLock()
    private var seen: [String] = []

    init(dropFirst: Int) throws {
        guard let (fd, port) = LoopbackSocket.bind(listen: 8) else { throw TestFailure("could not listen on 127.0.0.1") }
        listener = fd
        self.port = port
        Thread.detachNewThread { [self] in
            var connections = 0
            while true {
                let client = accept(fd, nil, nil)
                if client < 0 { return }
                connections += 1
                var buffer = [UInt8](repeating: 0, count: 65536)
                let count = read(client, &buffer, buffer.count)
                let request = count > 0 ? String(decoding: buffer[0..<count], as: UTF8.self) : ""
                lock.withLock { seen.append(request.components(separatedBy: "\r\n").first ?? "") }
                if connections > dropFirst {
                    let reply =
                        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 12\r\nConnection: close\r\n\r\n{\"ok\": true}"
                    _ = reply.withCString { write(client, $0, strlen($0)) }
                }
                close(client)
            }
        }
    }

    /// The request lines received, in order.
    var requests: [String] { lock.withLock { seen } }

    deinit {
        shutdown(listener, Int32(SHUT_RDWR))
        close(listener)
    }
}

@Suite struct StaleConnectionTests {
    /// A read whose connection the server closed unanswered is sent once more and succeeds; a
    /// write is not resent (the server may have acted on it) and is reported unavailable.
    @Test func aReadIsResentOnceOnAClosedConnectionAndAWriteNever() async throws {
        let client = BackendClient(service: "the test server", timeout: .seconds(5))
        let reads = try DroppingServer(dropFirst: 1)
        let reply = try await client.json(.GET, "http://127.0.0.1:\(reads.port)/runs")
        #expect(reply["ok"] == true)
        #expect(reads.requests == ["GET /runs HTTP/1.1", "GET /runs HTTP/1.1"])

        let twice = try DroppingServer(dropFirst: 2)
        await #expect(throws: BackendError.self) { try await client.json(.GET, "http://127.0.0.1:\(twice.port)/runs") }
        #expect(twice.requests.count == 2, "resent once, not in a loop")

        let writes = try DroppingServer(dropFirst: 1)
        do {
            _ = try await client.json(.POST, "http://127.0.0.1:\(writes.port)/runs", body: .json(["name": "ada"]))
            Issue.record("a POST on a closed connection must fail, not be resent")
        } catch let error as BackendError {
            #expect(!error.isRefused)
            #expect(error.description.contains("did not answer POST"))
        }
        #expect(writes.requests == ["POST /runs HTTP/1.1"])
    }
}
