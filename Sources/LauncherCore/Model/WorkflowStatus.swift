/// The one status vocabulary every executor maps its backend's states onto (Cromwell-compatible).
///
///     Pending → Submitted → Queued → Running → Succeeded | Failed | Aborted
///                                    Aborting → Aborted
///
/// `Pending` means the launcher recorded its intent but the backend has not confirmed it.
public enum WorkflowStatus: String, Sendable, CaseIterable, Hashable, Comparable {
    case pending = "Pending"
    case submitted = "Submitted"
    case queued = "Queued"
    case running = "Running"
    case aborting = "Aborting"
    case succeeded = "Succeeded"
    case failed = "Failed"
    case aborted = "Aborted"

    public static let final: [WorkflowStatus] = [.succeeded, .failed, .aborted]
    /// Known to the backend and not yet final: what the executor polls.
    public static let active: [WorkflowStatus] = [.submitted, .queued, .running, .aborting]

    public var isFinal: Bool { Self.final.contains(self) }
    public var isActive: Bool { Self.active.contains(self) }

    /// Accepts any capitalisation ("failed", "FAILED"), as users type it.
    public init?(userInput: String) {
        guard let match = Self.allCases.first(where: { $0.rawValue.lowercased() == userInput.lowercased() }) else {
            return nil
        }
        self = match
    }

    private var order: Int { Self.allCases.firstIndex(of: self)! }
    public static func < (a: Self, b: Self) -> Bool { a.order < b.order }
}

/// Why a workflow failed: its own command, or the machinery around it.
/// Infrastructure failures (lost jobs, node failures, a launcher giving up) are kept apart so
/// users can tell "my tool broke" from "the cluster broke" and retry accordingly.
public enum FailureKind: String, Sendable, Hashable, Codable {
    case workflow
    case infrastructure
}

public struct WorkflowError: Sendable, Hashable, Codable {
    public var message: String
    public var kind: FailureKind

    public init(_ message: String, kind: FailureKind = .workflow) {
        self.message = message
        self.kind = kind
    }

    public static func infrastructure(_ message: String) -> WorkflowError {
        WorkflowError(message, kind: .infrastructure)
    }

    public var json: JSONValue { ["message": .string(message), "kind": .string(kind.rawValue)] }

    enum CodingKeys: String, CodingKey { case message, kind }

    /// A stored error without a kind is the workflow's own.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        self.init(
            try container.decode(String.self, forKey: .message),
            kind: (try? container.decodeIfPresent(FailureKind.self, forKey: .kind)) ?? .workflow)
    }

    public init?(json: JSONValue?) {
        guard let message = json?["message"]?.stringValue else { return nil }
        self.init(message, kind: FailureKind(rawValue: json?["kind"]?.stringValue ?? "") ?? .workflow)
    }
}
