import Foundation
import Testing

@testable import LauncherCore

@Suite struct JSONValueTests {
    @Test func roundTripKeepsIntegersAndSortsKeys() throws {
        let value = try JSONValue.parse(#"{"b": 1, "a": [true, null, 2.5, "x\"y\n"], "c": {"z": -3}}"#)
        #expect(value["b"] == .int(1))
        #expect(value["a"]?.arrayValue?[2] == .double(2.5))
        #expect(value.description == #"{"a":[true,null,2.5,"x\"y\n"],"b":1,"c":{"z":-3}}"#)
        #expect(try JSONValue.parse(value.description) == value)
    }

    @Test(arguments: [
        ("{\"a\": 1,, }", "expected a \"key\" in the object at line 1, column 9"),
        ("{\"a\":\n  tru}", "invalid literal; expected true at line 2, column 3"),
        ("[1, 2", "unexpected end of input in an array at line 1, column 6"),
        ("{\"a\": 1} x", "unexpected 'x' after the JSON value at line 1, column 10"),
        ("\"tab\there\"", "control character in a string (escape it) at line 1, column 5"),
        ("01", "invalid number; no leading zeros at line 1, column 3"),
        ("", "empty document; expected a JSON value at line 1, column 1"),
        ("{\"a\" 1}", "expected ':' after the key \"a\" at line 1, column 6"),
    ])
    func malformedJSONSaysWhatAndWhere(text: String, message: String) {
        do {
            _ = try JSONValue.parse(text)
            Issue.record("parsed invalid JSON \(text)")
        } catch {
            #expect("\(error)" == message)
        }
    }

    @Test func escapesAndUnicodeParse() throws {
        #expect(try JSONValue.parse(#""a\u00e9\ud83d\ude00\n\/""#) == .string("aé😀\n/"))
        #expect(try JSONValue.parse("\"é😀\"") == .string("é😀"))
        #expect(
            try JSONValue.parse("[1e3, -0.5, 9223372036854775807, 12345678901234567890]")
                == [1000.0, -0.5, .int(Int64.max), 12345678901234567890.0])
        #expect(JSONValue.int(30) == JSONValue.double(30))
        #expect(Set<JSONValue>([.int(2), .double(2)]).count == 1)
    }

    @Test func controlCharactersAreEscaped() {
        #expect(JSONValue.string("a\u{01}b").description == #""a\u0001b""#)
    }

    @Test func wholeDoublesReadAsIntegers() {
        #expect(JSONValue.double(3).intValue == 3)
        #expect(JSONValue.double(3.5).intValue == nil)
        #expect(JSONValue.string("3").intValue == nil)
    }
}

@Suite struct RequestValidationTests {
    @Test func labelsAreValidatedNormalisedAndGetTheProject() throws {
        let labels = try RequestValidation.labels(["team:imaging", "team:imaging", "run-id:42"], project: "p1")
        #expect(labels == ["project:p1", "run-id:42", "team:imaging"])
    }

    @Test(arguments: [
        ("a:b:c", "exactly one ':'"), ("nocolon", "exactly one ':'"), ("1abc:x", "starts with a letter"),
        ("na me:x", "characters other than"), ("name: ", "non-blank value"), (":x", "starts with a letter"),
    ])
    func badLabelsAreRejectedWithTheirIndex(label: String, problem: String) {
        do {
            _ = try RequestValidation.labels(["ok:1", .string(label)], project: "p")
            Issue.record("accepted \(label)")
        } catch let error as LauncherError {
            #expect(error.kind == .badRequest)
            #expect(error.details["field"] == "labels[1]")
            #expect(error.message.contains(problem), "\(error.message)")
        } catch {
            Issue.record("unexpected \(error)")
        }
    }

    @Test func labelsMustBeAnArrayOfStrings() {
        #expect(throws: LauncherError.self) { try RequestValidation.labels("team:x", project: "p") }
        #expect(throws: LauncherError.self) { try RequestValidation.labels([1], project: "p") }
    }

    @Test func watchers() throws {
        let secret = FileManager.default.temporaryDirectory.appendingPathComponent("wfl-webhook-\(UUID()).key")
        try "k3y".write(to: secret, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(at: secret) }
        let configured = Settings([
            "WFL_SLACK_TOKEN": "xoxb-1", "WFL_SMTP_SERVER": "127.0.0.1:2525", "WFL_WEBHOOK_SECRET_FILE": secret.path,
        ])
        let good: JSONValue = [
            ["slack", "C0123ABC"], ["slack", "C99", "#alerts"], ["email", "a@b.org"], ["webhook", "https://hooks.example.org/wfl"],
            ["webhook", "http://127.0.0.1:9000/hook"],
        ]
        #expect(try RequestValidation.watchers(good, settings: configured) == good)
        let bad: [(JSONValue, String, String)] = [
            (["slack", "D123"], "watchers[0]", "channelId starting with C"),
            (["slack", "C0123ABC\n#x"], "watchers[0]", "channelId starting with C"),
            (["email", "not-an-address"], "watchers[0]", "a valid address"),
            (["email", "a@b.org>\r\nRCPT TO:<c@d.org"], "watchers[0]", "a valid address"),
            (["email", "a@b.org", "extra"], "watchers[0]", "a valid address"),
            (["pager", "x"], "watchers[0]", "unknown watcher type"),
            (["slack"], "watchers[0]", "channelId"),
            (["webhook", "http://hooks.example.org/wfl"], "watchers[0][1]", "must use https"),
            (["webhook", "ftp://hooks.example.org/wfl"], "watchers[0][1]", "must use https"),
            (["webhook", "https://user:pw@hooks.example.org/"], "watchers[0][1]", "user name or password"),
            (["webhook", "https://169.254.169.254/latest/meta-data"], "watchers[0][1]", "link-local or metadata"),
            (["webhook", "not a url"], "watchers[0][1]", "absolute http(s) URL"),
        ]
        for (watcher, field, message) in bad {
            do {
                _ = try RequestValidation.watchers([watcher], settings: configured)
                Issue.record("\(watcher) was accepted")
            } catch let error as LauncherError {
                #expect(error.details["field"] == .string(field), "\(watcher): \(error.message)")
                #expect(error.message.contains(message), "\(watcher): \(error.message)")
            }
        }
        #expect(throws: LauncherError.self) { try RequestValidation.watchers("slack", settings: configured) }
        // A server that cannot send a kind says so at create, naming the watcher.
        for (watcher, message) in [
            (["slack", "C0123ABC"], "WFL_SLACK_TOKEN"), (["email", "a@b.org"], "WFL_SMTP_SERVER"),
            (["webhook", "https://hooks.example.org/"], "WFL_WEBHOOK_SECRET_FILE"),
        ] as [(JSONValue, String)] {
            do {
                _ = try RequestValidation.watchers([["slack", "C1"], watcher], settings: Settings(["WFL_SLACK_TOKEN": "x"]))
                if message != "WFL_SLACK_TOKEN" { Issue.record("\(watcher) was accepted without \(message)") }
            } catch let error as LauncherError {
                #expect(error.details["field"] == "watchers[1]" && error.message.contains(message), "\(error.message)")
            }
        }
        #expect(throws: LauncherError.self) { try RequestValidation.watchers([["slack", "C1"]], settings: Settings([:])) }
    }

    @Test func projectIsRequiredAndNotBlank() {
        for bad: JSONValue? in [nil, .null, "  ", 3] {
            do {
                _ = try RequestValidation.project(bad)
                Issue.record("accepted \(String(describing: bad))")
            } catch let error as LauncherError {
                #expect(error.details["field"] == "project")
            } catch {
                Issue.record("unexpected \(error)")
            }
        }
    }

    @Test func cursorsRoundTripAndRejectForgeries() throws {
        let cursor = Cursor.encode(12345, kind: "workflow")
        #expect(try Cursor.decode(cursor, kind: "workflow") == 12345)
        #expect(throws: LauncherError.self) { try Cursor.decode(cursor, kind: "workload") }
        #expect(throws: LauncherError.self) { try Cursor.decode("!!!", kind: "workflow") }
        #expect(try Cursor.decode(nil, kind: "workflow") == nil)
    }
}

@Suite struct StatusTests {
    @Test func finalAndActiveSetsAreDisjointAndUserInputIsCaseInsensitive() {
        #expect(Set(WorkflowStatus.final).isDisjoint(with: WorkflowStatus.active))
        #expect(WorkflowStatus(userInput: "failed") == .failed)
        #expect(WorkflowStatus(userInput: "RUNNING") == .running)
        #expect(WorkflowStatus(userInput: "Unknown") == nil)
        #expect(!WorkflowStatus.pending.isActive && !WorkflowStatus.pending.isFinal)
    }
}

/// The request checks these tests exercise, through the typed workload request.
extension RequestValidation {
    static func request(_ object: JSONObject) throws -> WorkloadRequest {
        try WorkloadRequest.decode(object, at: "", context: .request, what: "a workload request")
    }

    static func labels(_ value: JSONValue, project: String) throws -> [String] {
        try request(["project": .string(project), "labels": value]).normalisedLabels
    }

    static func watchers(_ value: JSONValue, settings: Settings) throws -> JSONValue {
        let workload = try WorkloadRequest.decode(
            ["project": "p", "watchers": value], at: "", context: ConfigContext(origin: .request, settings: settings),
            what: "a workload request")
        return .array(workload.watchers.map(\.configJSON))
    }

    static func project(_ value: JSONValue?) throws -> String {
        var object: JSONObject = [:]
        if let value { object["project"] = value }
        return try request(object).project
    }
}
