// wfl-bench: throughput and idle-cost benchmarks against a real PostgreSQL.
//
//   swift run -c release wfl-bench [json|validation|throughput|counts|containers|slurm|idle|all] [--items N] [--workloads N]
//     [--batch-size N]
//
// Uses a fresh database on the server named by WFL_BENCH_DATABASE_URL (or
// WFL_TEST_DATABASE_URL, as scripts/pg-up.sh prints it), dropped afterwards.
import Foundation
import LauncherCore
import LauncherPostgres
import LauncherStages
import LauncherSystem
import Logging
import Synchronization

struct Options {
    var mode = "all"
    var items = 100_000
    var workloads = 10_000
    var batchSize = 1000
    var concurrency = 4
    var arraySize = 1000

    init(_ arguments: [String]) {
        var rest = arguments.makeIterator()
        while let argument = rest.next() {
            switch argument {
            case "--items": items = Int(rest.next() ?? "") ?? items
            case "--workloads": workloads = Int(rest.next() ?? "") ?? workloads
            case "--batch-size": batchSize = Int(rest.next() ?? "") ?? batchSize
            case "--concurrency": concurrency = Int(rest.next() ?? "") ?? concurrency
            case "throughput", "idle", "slurm", "containers", "json", "validation", "listing", "dashboard", "counts", "all":
                mode = argument
            case "--array": arraySize = Int(rest.next() ?? "") ?? arraySize
            default:
                FileHandle.standardError.write(Data("unknown argument \(argument)\n".utf8))
                exit(2)
            }
        }
    }
}

/// Peak resident memory of this process so far (VmHWM), in MiB.
func peakMemoryMiB() -> Double {
    guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8),
        let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmHWM:") }),
        let kb = Double(line.split(separator: " ").dropFirst().first ?? "")
    else { return -1 }
    return kb / 1024
}

func seconds(since start: ContinuousClock.Instant) -> Double {
    let (s, atto) = (ContinuousClock.now - start).components
    return Double(s) + Double(atto) / 1e18
}

func format(_ value: Double, _ digits: Int = 2) -> String { String(format: "%.\(digits)f", value) }

let logger: Logger = {
    var logger = Logger(label: "wfl-bench")
    logger.logLevel = .error
    return logger
}()
let options = Options(Array(CommandLine.arguments.dropFirst()))
guard
    let adminURL = ProcessInfo.processInfo.environment["WFL_BENCH_DATABASE_URL"]
        ?? ProcessInfo.processInfo.environment["WFL_TEST_DATABASE_URL"]
else {
    print("Set WFL_BENCH_DATABASE_URL (or run: eval \"$(scripts/pg-up.sh)\" to get WFL_TEST_DATABASE_URL).")
    exit(2)
}

func withBenchDatabase(_ body: @escaping @Sendable (WorkloadService, Updater, Database, String) async throws -> Void) async throws {
    let name = "wflbench_\(UUID().uuidString.prefix(8).lowercased())"
    // A client runs once: one per administrative step.
    func admin(_ sql: String) async throws {
        let admin = Database(configuration: try DatabaseURL.configuration(adminURL, maxConnections: 2), logger: logger)
        try await admin.run { try await $0.execute(sql) }
    }
    try await admin("CREATE DATABASE \(name)")
    var components = URLComponents(string: adminURL)!
    components.path = "/\(name)"
    let url = components.string!
    let database = Database(configuration: try DatabaseURL.configuration(url, maxConnections: 20), logger: logger)
    do {
        try await database.run { database in
            try await Migrator(database: database).migrate()
            let parts = LauncherParts(
                store: PostgresStore(database: database, logger: logger), registry: .builtin,
                environment: LauncherEnvironment(home: FileManager.default.temporaryDirectory.appendingPathComponent(name)),
                options: UpdaterOptions(concurrency: options.concurrency, batchSize: options.batchSize, tickBudget: .seconds(30)),
                logger: logger)
            try await body(parts.service, parts.updater, database, url)
        }
    } catch {
        print("benchmark failed: \(error)")
    }
    try await admin("DROP DATABASE IF EXISTS \(name) WITH (FORCE)")
}

/// N items through Items → Mock → None: create (parse + insert), then update passes until finished.
func throughput() async throws {
    print("== throughput: \(options.items) items through Items → Mock → None (batch \(options.batchSize)) ==")
    try await withBenchDatabase { service, updater, database, _ in
        let items = (0..<options.items).map { i in
            "{\"sample\":\"S\(i)\",\"reads\":\(1000 + i % 977),\"path\":\"/data/run1/S\(i).bam\"}"
        }
        let body =
            "{\"project\":\"bench\",\"source\":{\"name\":\"Items\",\"items\":[\(items.joined(separator: ","))]},"
            + "\"executor\":{\"name\":\"Mock\"},\"sink\":{\"name\":\"None\"}}"
        print("request: \(format(Double(body.utf8.count) / 1_048_576, 1)) MiB of JSON")
        let createStart = ContinuousClock.now
        let request = try JSONValue.parse(body)
        let parsed = seconds(since: createStart)
        let view = try await service.create(request, start: true)
        let created = seconds(since: createStart)
        print(
            "create: \(format(created)) s (JSON parse \(format(parsed)) s; validate + insert \(format(created - parsed)) s; "
                + "\(Int(Double(options.items) / created)) items/s)")

        let runStart = ContinuousClock.now
        var passes = 0
        while try await service.workload(view.record.uuid).record.finished == nil {
            _ = await updater.runPass()
            passes += 1
        }
        let ran = seconds(since: runStart)
        let counts = try await service.workload(view.record.uuid).counts
        print(
            "run: \(format(ran)) s in \(passes) passes → \(Int(Double(options.items) / ran)) items/s "
                + "(claimed, launched, finished, delivered); \(counts[.succeeded] ?? 0) succeeded")
        print("end to end (create + run): \(Int(Double(options.items) / (created + ran))) items/s")
        print("peak memory (RSS): \(format(peakMemoryMiB(), 1)) MiB")
        let tableSize = try await database.scalar("SELECT pg_total_relation_size('workflow') / 1048576")
        print("workflow table incl. indexes: \(tableSize ?? -1) MiB")
    }
}

/// What keeping the counts by status costs and what it saves: the throughput run with the
/// counting triggers (as shipped) and with them disabled, interleaved, and a workload read
/// (its counts) from the kept counts against the full `GROUP BY` they replace.
func counts() async throws {
    print("== counts: \(options.items) items through Items → Mock → None with and without the kept counts ==")
    let rates = Mutex<[Bool: [Double]]>([:])
    for round in 0..<4 {
        let triggers = round % 2 == 0
        try await withBenchDatabase { service, updater, database, _ in
            if !triggers { try await database.execute("ALTER TABLE workflow DISABLE TRIGGER USER") }
            let items: [JSONValue] = (0..<options.items).map { ["sample": .string("S\($0)")] }
            let start = ContinuousClock.now
            let view = try await service.create(
                [
                    "project": "bench", "source": ["name": "Items", "items": .array(items)], "executor": ["name": "Mock"],
                    "sink": ["name": "None"],
                ],
                start: true)
            while try await service.workload(view.record.uuid).record.finished == nil { _ = await updater.runPass() }
            let rate = Double(options.items) / seconds(since: start)
            rates.withLock { $0[triggers, default: []].append(rate) }
            print("  \(triggers ? "kept counts" : "no counts  "): \(Int(rate)) items/s end to end")
            guard triggers else { return }
            // Reads of the finished workload: the service (kept counts) and the query it replaced.
            var kept: [Double] = [], full: [Double] = []
            for _ in 0..<20 {
                let a = ContinuousClock.now
                _ = try await service.workload(view.record.uuid)
                kept.append(seconds(since: a) * 1000)
                let b = ContinuousClock.now
                _ = try await database.scalar(
                    "SELECT count(*)::int FROM (SELECT status, count(*) FROM workflow WHERE workload_id = \(view.record.id) AND retried_by IS NULL GROUP BY 1) c"
                )
                full.append(seconds(since: b) * 1000)
            }
            kept.sort()
            full.sort()
            print(
                "  workload read at \(options.items) workflows: p50 \(format(kept[10], 1)) ms (kept counts) vs the full GROUP BY alone "
                    + "p50 \(format(full[10], 1)) ms")
        }
    }
    let (withCounts, without) = rates.withLock { ($0[true, default: []], $0[false, default: []]) }
    let on = withCounts.reduce(0, +) / Double(max(1, withCounts.count))
    let off = without.reduce(0, +) / Double(max(1, without.count))
    print("kept counts cost: \(format(on / off, 3))× the throughput without them (\(Int(on)) vs \(Int(off)) items/s, mean of 2 each)")
}

/// A pass over N started workloads that have nothing to do (one Mock workflow each, running
/// for an hour): the steady-state cost, and the cost when every one is due.
func idle() async throws {
    print("== idle: a pass over \(options.workloads) started workloads with nothing to do ==")
    try await withBenchDatabase { service, updater, database, _ in
        let createStart = ContinuousClock.now
        try await withThrowingTaskGroup(of: Void.self) { group in
            for worker in 0..<4 {
                group.addTask {
                    for i in stride(from: worker, to: options.workloads, by: 4) {
                        _ = try await service.create(
                            [
                                "project": "idle", "source": ["name": "Items", "items": [["n": .int(Int64(i))]]],
                                "executor": ["name": "Mock", "delaySeconds": 3600], "sink": ["name": "None"],
                            ],
                            start: true)
                    }
                }
            }
            try await group.waitForAll()
        }
        print("created \(options.workloads) workloads in \(format(seconds(since: createStart))) s")
        // Settle: the first pass launches, the second polls and learns nothing can change for an hour.
        for label in ["launch", "first poll"] {
            let start = ContinuousClock.now
            let report = await updater.runPass()
            print("pass (\(label)): \(report.due) due, \(report.updated) updated in \(format(seconds(since: start))) s")
        }
        var samples: [Double] = []
        for _ in 0..<5 {
            let start = ContinuousClock.now
            let report = await updater.runPass()
            samples.append(seconds(since: start) * 1000)
            precondition(report.due == 0, "idle workloads were due")
        }
        print("steady-state pass (nothing due): median \(format(samples.sorted()[2], 1)) ms over 5 passes")
        try await database.execute("UPDATE workload SET wake_at = now()")
        let forced = ContinuousClock.now
        let report = await updater.runPass()
        let forcedSeconds = seconds(since: forced)
        print(
            "forced pass (all \(report.due) due, each polled once): \(format(forcedSeconds)) s "
                + "(\(format(forcedSeconds * 1000 / Double(max(report.due, 1)), 2)) ms per workload)")
        print("peak memory (RSS): \(format(peakMemoryMiB(), 1)) MiB")
    }
}

/// N trivial jobs (`true`) through Items → SLURM → None, as single jobs and as job arrays:
/// wall time from start to finished, and how many sbatch/squeue/sacct calls it took.
func slurm() async throws {
    guard
        let conf = ProcessInfo.processInfo.environment["WFL_BENCH_SLURM_CONF"]
            ?? ProcessInfo.processInfo.environment["WFL_TEST_SLURM_CONF"]
    else {
        print("== slurm: skipped (set WFL_BENCH_SLURM_CONF, or run: eval \"$(scripts/slurm-test-clusters.sh | tail -2)\") ==")
        return
    }
    let items = min(options.items, 1000)
    for array in [nil, options.arraySize] as [Int?] {
        let label = array.map { "arrays of up to \($0)" } ?? "single jobs"
        print("== slurm: \(items) jobs (`true`) through Items → SLURM → None, \(label) ==")
        try await withBenchDatabase { service, updater, _, _ in
            var executor: JSONObject = ["name": "SLURM", "command": "true", "slurmConf": .string(conf), "memory": "32M", "pollSeconds": 1]
            if let array { executor["array"] = .int(Int64(array)) }
            let request: JSONValue = [
                "project": "bench-slurm", "source": ["name": "Items", "items": .array((0..<items).map { ["n": .int(Int64($0))] })],
                "executor": .object(executor), "sink": ["name": "None"],
            ]
            let before = SlurmCallCounter.snapshot()
            let start = ContinuousClock.now
            let view = try await service.create(request, start: true)
            while try await service.workload(view.record.uuid).record.finished == nil {
                _ = await updater.runPass()
                try await Task.sleep(for: .milliseconds(100))
            }
            let elapsed = seconds(since: start)
            let after = SlurmCallCounter.snapshot()
            let calls = ["sbatch", "squeue", "sacct", "scancel"].map { "\($0) \((after[$0] ?? 0) - (before[$0] ?? 0))" }
            let counts = try await service.workload(view.record.uuid).counts
            print("finished in \(format(elapsed)) s (\(format(Double(items) / elapsed, 1)) jobs/s); \(counts[.succeeded] ?? 0) succeeded")
            print("SLURM calls: \(calls.joined(separator: ", "))")
        }
    }
}

/// N trivial containers (`true`) through Items → Container → None, and the same number of
/// bare `podman run` calls one after another, in one run.
func containers() async throws {
    guard ProcessInfo.processInfo.environment["CONTAINERS_CONF"] != nil else {
        print("== containers: skipped (run: eval \"$(scripts/container-up.sh | tail -2)\") ==")
        return
    }
    let count = min(options.items, 200)
    let image = "localhost/tiny:latest"
    print("== containers: \(count) trivial containers (`true`) through Items → Container → None ==")
    try await withBenchDatabase { service, updater, _, _ in
        let request: JSONValue = [
            "project": "bench-containers", "source": ["name": "Items", "items": .array((0..<count).map { ["n": .int(Int64($0))] })],
            "executor": ["name": "Container", "image": .string(image), "command": "true", "pull": "never", "maxParallel": 8],
            "sink": ["name": "None"],
        ]
        let start = ContinuousClock.now
        let view = try await service.create(request, start: true)
        while try await service.workload(view.record.uuid).record.finished == nil {
            _ = await updater.runPass()
            try await Task.sleep(for: .milliseconds(50))
        }
        let elapsed = seconds(since: start)
        let counts = try await service.workload(view.record.uuid).counts
        print("launcher: \(format(elapsed)) s, \(format(Double(count) / elapsed, 1)) containers/s; \(counts[.succeeded] ?? 0) succeeded")
    }
    let start = ContinuousClock.now
    for _ in 0..<count {
        _ = try await Command.run(["podman", "run", "--rm", "--network=none", image, "true"], timeout: .seconds(60))
    }
    let bare = seconds(since: start)
    print("bare `podman run --rm` loop: \(format(bare)) s, \(format(Double(count) / bare, 1)) containers/s")
}

/// The request parser against Foundation's, on the throughput benchmark's body: the launcher's
/// own `JSONValue.parse` (exact numbers), `JSONDecoder` into `JSONValue` through its Codable
/// conformance, and `JSONSerialization` into Foundation objects, in one run (ratios).
func json() throws {
    let items = (0..<options.items).map { i in "{\"sample\":\"S\(i)\",\"reads\":\(i * 7),\"ratio\":\(Double(i) / 8)}" }
    let body = Data(
        ("{\"project\":\"bench\",\"source\":{\"name\":\"Items\",\"items\":[\(items.joined(separator: ","))]},"
            + "\"executor\":{\"name\":\"Mock\"},\"sink\":{\"name\":\"None\"}}").utf8)
    print("== json: parsing a \(format(Double(body.count) / 1_048_576, 1)) MiB request of \(options.items) items, best of 5 ==")
    func best(_ label: String, _ body: () throws -> Void) rethrows -> Double {
        var times: [Double] = []
        for _ in 0..<5 {
            let start = ContinuousClock.now
            try body()
            times.append(seconds(since: start))
        }
        return times.min()!
    }
    let own = try best("JSONValue.parse") { _ = try JSONValue.parse(body) }
    let decoder = try best("JSONDecoder") { _ = try JSONDecoder().decode(JSONValue.self, from: body) }
    let serialization = try best("JSONSerialization") { _ = try JSONSerialization.jsonObject(with: body) }
    let encoded = try JSONValue.parse(body)
    let write = best("serialize") { _ = encoded.description }
    let encoderWrite = try best("JSONEncoder") { _ = try JSONEncoder().encode(encoded) }
    for (label, time) in [
        ("JSONValue.parse (exact numbers)", own), ("JSONDecoder → JSONValue", decoder),
        ("JSONSerialization → Any", serialization),
    ] {
        print(
            "\(label.padding(toLength: 34, withPad: " ", startingAt: 0)) \(format(time * 1000, 1)) ms  "
                + "\(Int(Double(options.items) / time)) items/s  (\(format(time / own, 2))× the launcher's parser)")
    }
    print(
        "writing it back: JSONValue.description \(format(write * 1000, 1)) ms; JSONEncoder \(format(encoderWrite * 1000, 1)) ms "
            + "(\(format(encoderWrite / write, 2))×)")
}

/// Create-time checks over long lists stay linear: a TDR Snapshots source with 10,000 and
/// 40,000 ids (a duplicate at the end, so the whole list is read), best of 5 each; quadratic
/// would make the ratio about 16, linear about 4.
func validation() throws {
    func check(_ count: Int) throws -> Double {
        var ids = (0..<count).map { _ in JSONValue.string(UUID().uuidString.lowercased()) }
        ids.append(ids[17])
        var times: [Double] = []
        for _ in 0..<5 {
            let start = ContinuousClock.now
            do {
                _ = try StageRegistry.builtin.makeSource(["name": "TDR Snapshots", "snapshots": .array(ids)])
                fatalError("a duplicate snapshot was accepted")
            } catch is LauncherError {}
            times.append(seconds(since: start))
        }
        return times.min()!
    }
    _ = try check(2_000)  // warm up
    let small = try check(10_000), large = try check(40_000)
    print(
        "== validation: a snapshot list of 10,000 ids \(format(small * 1000, 1)) ms, 40,000 ids \(format(large * 1000, 1)) ms "
            + "(\(format(large / small, 2))×; linear ≈ 4, quadratic ≈ 16) ==")
}

/// The dashboard's pages over the workload of N workflows (`dashboard --items 1000000`): the
/// server's time per page, p50 and p99 of 20 requests, against the same pages of a workload of
/// 100 workflows in the same database and server (the ratio is what stays meaningful on a
/// shared machine), and the statements each page costs the database (pg_stat_database's
/// transactions before and after one request; every statement outside a transaction is one).
@Sendable func dashboardPages(
    _ workload: WorkloadRecord, database: Database, get: @escaping @Sendable (String) throws -> (bytes: Int, seconds: Double)
) async throws {
    let small =
        try await database.scalar(
            """
            WITH w AS (INSERT INTO workload (uuid, project, creator, labels, watchers, source_type, source_config, source_state,
                                             executor_type, executor_config, sink_type, sink_config, version, started)
                       SELECT gen_random_uuid(), 'bench-small', creator, labels, watchers, source_type, source_config, source_state,
                              executor_type, executor_config, sink_type, sink_config, version, now()
                       FROM workload WHERE id = \(workload.id) RETURNING id)
            SELECT id FROM w
            """) ?? 0
    try await database.execute(
        """
        INSERT INTO workflow (workload_id, uuid, status, inputs, outputs, submission, external_id, submitted, finished)
        SELECT \(small), gen_random_uuid(), CASE WHEN g % 50 = 0 THEN 'Failed' ELSE 'Succeeded' END, jsonb_build_object('sample', 'S' || g),
               jsonb_build_object('bam', '/data/out/S' || g || '.bam'), gen_random_uuid()::text, 'job-' || g, now(), now()
        FROM generate_series(1, 100) AS g
        """)
    // A tick's summary events over the last hour, as a running workload leaves them.
    for id in [workload.id, small] {
        try await database.execute(
            """
            INSERT INTO workload_event (workload_id, at, kind, message, data)
            SELECT \(id), now() - (g || ' seconds')::interval, 'workflows', 'Workflows finished', jsonb_build_object('Succeeded', 40, 'Failed', 1)
            FROM generate_series(1, 3600, 5) AS g
            """)
    }
    try await database.execute("ANALYZE")
    // No autovacuum while statements are counted: its transactions would count as the pages'.
    for table in ["workflow", "workload", "workload_event", "source_item"] {
        try await database.execute("ALTER TABLE \(table) SET (autovacuum_enabled = false)")
    }
    let smallUUID = try await database.scalarText("SELECT uuid::text FROM workload WHERE id = \(small)") ?? ""
    let bigUUID = workload.uuid.uuidString.lowercased()
    let firstID = try await database.scalar("SELECT min(id)::int FROM workflow WHERE workload_id = \(workload.id)") ?? 0
    let middle = Base64URL.encode("workflow:\(firstID + options.items / 2)")
    let someWorkflow =
        try await database.scalarText("SELECT uuid::text FROM workflow WHERE workload_id = \(workload.id) ORDER BY id LIMIT 1") ?? ""
    func pages(_ uuid: String, deep: String?) -> [(String, String)] {
        var pages = [
            ("workload page", "/ui/workloads/\(uuid)"), ("live numbers", "/ui/workloads/\(uuid)/live"),
            ("workflows, page 1", "/ui/workloads/\(uuid)/workflows"),
            ("workflows, Failed", "/ui/workloads/\(uuid)/workflows?status=Failed"),
        ]
        if let deep { pages.append(("workflows, mid-listing page", "/ui/workloads/\(uuid)/workflows?cursor=\(deep)")) }
        return pages
    }
    func statements() async throws -> Int {
        // A backend flushes its statistics when a transaction ends a second after the last flush,
        // or after 10 s idle: wait past that, so every statement of the request is counted.
        try await Task.sleep(for: .seconds(11))
        return try await database.scalar(
            "SELECT (xact_commit + xact_rollback)::bigint FROM pg_stat_database WHERE datname = current_database()") ?? 0
    }
    func timed(_ path: String) throws -> (p50: Double, p99: Double) {
        _ = try get(path)
        var times: [Double] = []
        for _ in 0..<20 { times.append(try get(path).seconds) }
        times.sort()
        return (times[times.count / 2], times[min(times.count - 1, Int(Double(times.count) * 0.99))])
    }
    print("page                          \(options.items) workflows (p50 / p99)   100 workflows (p50 / p99)   ratio p50   statements")
    for ((name, big), (_, tiny)) in zip(pages(bigUUID, deep: middle), pages(smallUUID, deep: nil) + [("", "")]) {
        let large = try timed(big)
        let baseline = tiny.isEmpty ? nil : try timed(tiny)
        // Against a control: the same wait around a request that makes no query (/status).
        let quiet = try await statements()
        _ = try get("/status")
        let noise = try await statements() - quiet - 1
        let before = try await statements()
        _ = try get(big)
        let count = try await statements() - before - 1 - noise  // the second read of the statistics is one too
        print(
            name.padding(toLength: 30, withPad: " ", startingAt: 0)
                + "\(format(large.p50 * 1000, 1)) / \(format(large.p99 * 1000, 1)) ms".padding(toLength: 29, withPad: " ", startingAt: 0)
                + (baseline.map { "\(format($0.p50 * 1000, 1)) / \(format($0.p99 * 1000, 1)) ms" } ?? "-").padding(
                    toLength: 28, withPad: " ", startingAt: 0)
                + (baseline.map { format(large.p50 / $0.p50, 2) + "×" } ?? "-").padding(toLength: 12, withPad: " ", startingAt: 0)
                + "\(count)")
    }
    let one = try timed("/ui/workflows/\(someWorkflow)")
    print("workflow page                 \(format(one.p50 * 1000, 1)) / \(format(one.p99 * 1000, 1)) ms")
}

/// A listing without `limit` over N workflows, streamed by a real `wfl serve` (release build):
/// its resident memory before and at its peak after, beside the size of the answer. Constant
/// memory means the peak does not grow with N (try --items 100000 and 1000000).
func listing() async throws {
    print("== listing: GET …/workflows without limit over \(options.items) workflows, from wfl serve ==")
    try await withBenchDatabase { service, _, database, url in
        let view = try await service.acting(as: .local("bench")).create(
            try JSONValue.parse(
                Data(#"{"project":"bench","source":{"name":"Items","items":[]},"executor":{"name":"Mock"},"sink":{"name":"None"}}"#.utf8)),
            start: false)
        let insertStart = ContinuousClock.now
        // In statements of 100,000 rows: each database call has a 30 s limit.
        for first in stride(from: 1, through: options.items, by: 100_000) {
            let last = min(options.items, first + 99_999)
            try await database.execute(
                """
                INSERT INTO workflow (workload_id, uuid, status, inputs, outputs, submission, external_id, submitted, finished)
                SELECT \(view.record.id), gen_random_uuid(), CASE WHEN g % 50 = 0 THEN 'Failed' ELSE 'Succeeded' END,
                       jsonb_build_object('sample', 'S' || g, 'reads', g * 7),
                       jsonb_build_object('bam', '/data/out/S' || g || '.bam'), '\(UUID().uuidString.lowercased())', 'job-' || g, now(), now()
                FROM generate_series(\(first), \(last)) AS g
                """)
        }
        try await database.execute("ANALYZE workflow")
        print("inserted \(options.items) workflows in \(format(seconds(since: insertStart))) s")

        let wfl = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("wfl").path
        guard FileManager.default.isExecutableFile(atPath: wfl) else {
            print("build wfl first: swift build -c release --product wfl")
            return
        }
        let port = Int.random(in: 30_000..<60_000)
        let home = FileManager.default.temporaryDirectory.appendingPathComponent("wfl-bench-listing-\(port)")
        try FileManager.default.createDirectory(at: home, withIntermediateDirectories: true)
        let serve = Process()
        serve.executableURL = URL(fileURLWithPath: wfl)
        serve.arguments = ["serve", "--port", String(port), "--interval", "3600"]
        serve.environment = ProcessInfo.processInfo.environment.merging(["WFL_DATABASE_URL": url, "WFL_HOME": home.path]) { _, b in b }
        serve.standardError = FileHandle.nullDevice
        try serve.run()
        defer { serve.terminate() }
        func memory(_ key: String) -> Double {
            guard let status = try? String(contentsOfFile: "/proc/\(serve.processIdentifier)/status", encoding: .utf8),
                let line = status.split(separator: "\n").first(where: { $0.hasPrefix(key + ":") }),
                let kb = Double(line.split(separator: " ").dropFirst().first ?? "")
            else { return -1 }
            return kb / 1024
        }
        @Sendable func get(_ path: String) throws -> (bytes: Int, seconds: Double) {
            let start = ContinuousClock.now
            let curl = Process()
            curl.executableURL = URL(fileURLWithPath: "/usr/bin/curl")
            curl.arguments = ["-sS", "-o", "/dev/null", "-w", "%{size_download}", "http://127.0.0.1:\(port)\(path)"]
            let pipe = Pipe()
            curl.standardOutput = pipe
            try curl.run()
            curl.waitUntilExit()
            let text = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            return (Int(text) ?? -1, seconds(since: start))
        }
        var ready = false
        for _ in 0..<100 where !ready {
            try await Task.sleep(for: .milliseconds(100))
            ready = ((try? get("/status"))?.bytes ?? 0) > 0
        }
        let uuid = view.record.uuid.uuidString.lowercased()
        _ = try get("/api/v1/workload/\(uuid)/workflows?limit=10")  // warm up
        if options.mode == "dashboard" {
            try await dashboardPages(view.record, database: database, get: get)
            return
        }
        let before = memory("VmRSS")
        let whole = try get("/api/v1/workload/\(uuid)/workflows")
        let peak = memory("VmHWM")
        print(
            "whole listing: \(format(Double(whole.bytes) / 1_048_576, 1)) MiB in \(format(whole.seconds)) s "
                + "(\(Int(Double(options.items) / whole.seconds)) workflows/s)")
        print(
            "wfl serve memory: \(format(before, 1)) MiB before, peak \(format(peak, 1)) MiB after "
                + "(+\(format(peak - before, 1)) MiB for a \(format(Double(whole.bytes) / 1_048_576, 1)) MiB answer: "
                + "\(format((peak - before) / (Double(whole.bytes) / 1_048_576), 3)) MiB per MiB sent)")
        let page = try get("/api/v1/workload/\(uuid)/workflows?limit=1000")
        print("one page of 1,000 with limit: \(format(page.seconds * 1000, 1)) ms")
    }
}

if options.mode == "listing" || options.mode == "dashboard" { try await listing() }
if options.mode == "json" || options.mode == "all" { try json() }
if options.mode == "validation" || options.mode == "all" { try validation() }
if options.mode == "throughput" || options.mode == "all" { try await throughput() }
if options.mode == "counts" || options.mode == "all" { try await counts() }
if options.mode == "containers" || options.mode == "all" { try await containers() }
if options.mode == "slurm" || options.mode == "all" { try await slurm() }
if options.mode == "idle" || options.mode == "all" { try await idle() }
