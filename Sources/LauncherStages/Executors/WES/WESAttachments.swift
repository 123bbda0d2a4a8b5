import Foundation
import LauncherCore
import LauncherStageSupport

/// The files sent with every run as `workflow_attachment` parts: one file, every file of a
/// folder, or a list of files, each named by its path relative to the folder (or to the
/// listed files' common folder), so a workflow that refers to sibling files (`run:
/// tools/align.cwl`, `$import`, secondary files) finds them where it expects.
struct WESAttachments: Sendable {
    /// Relative name → absolute path.
    let files: [(name: String, path: String)]

    static let maxFiles = 1000
    static let maxBytes = 64 << 20

    /// Collects the files; the problem (for a 400 at create, or a deferred launch) otherwise.
    static func collect(single: String?, list: [String]) throws -> WESAttachments {
        var files: [(String, String)] = []
        if let single {
            var isFolder: ObjCBool = false
            guard FileManager.default.fileExists(atPath: single, isDirectory: &isFolder) else { throw Problem("cannot read \(single)") }
            if isFolder.boolValue {
                guard let walker = FileManager.default.enumerator(atPath: single) else { throw Problem("cannot read the folder \(single)") }
                for case let relative as String in walker {
                    let path = single + "/" + relative
                    var isDirectory: ObjCBool = false
                    if FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), !isDirectory.boolValue {
                        files.append((relative, path))
                    }
                    if files.count > maxFiles { throw Problem("\(single) holds more than \(maxFiles) files") }
                }
                guard !files.isEmpty else { throw Problem("the folder \(single) holds no files") }
            } else {
                files.append((URL(fileURLWithPath: single).lastPathComponent, single))
            }
        }
        if !list.isEmpty {
            let folder = commonFolder(list)
            for path in list {
                let relative = String(path.dropFirst(folder == "/" ? 1 : folder.count + 1))
                files.append((relative, path))
            }
        }
        var total = 0
        for (_, path) in files {
            guard FileManager.default.isReadableFile(atPath: path),
                let size = (try? FileManager.default.attributesOfItem(atPath: path)[.size] as? Int)
            else {
                throw Problem("cannot read \(path)")
            }
            total += size
            if total > maxBytes { throw Problem("the attachments are larger than the \(maxBytes >> 20) MiB the launcher sends") }
        }
        return WESAttachments(files: files.sorted { $0.0 < $1.0 })
    }

    /// The name `workflowUrl` defaults to: the single file's, or the first listed file's.
    static func defaultName(single: String?, list: [String]) -> String? {
        if let single {
            var isFolder: ObjCBool = false
            if FileManager.default.fileExists(atPath: single, isDirectory: &isFolder), isFolder.boolValue { return nil }
            return URL(fileURLWithPath: single).lastPathComponent
        }
        guard let first = list.first else { return nil }
        let folder = commonFolder(list)
        return String(first.dropFirst(folder == "/" ? 1 : folder.count + 1))
    }

    /// The deepest folder holding every path.
    static func commonFolder(_ paths: [String]) -> String {
        var common = paths.first.map { ($0 as NSString).deletingLastPathComponent.split(separator: "/").map(String.init) } ?? []
        for path in paths.dropFirst() {
            let parts = (path as NSString).deletingLastPathComponent.split(separator: "/").map(String.init)
            common = Array(zip(common, parts).prefix { $0 == $1 }.map(\.0))
        }
        return "/" + common.joined(separator: "/")
    }

    /// The files' contents, read now.
    func read() throws -> [(name: String, data: Data)] {
        try files.map { name, path in
            guard let data = FileManager.default.contents(atPath: path) else {
                throw Problem("cannot read the workflow attachment \(path)")
            }
            return (name, data)
        }
    }

    struct Problem: Error, CustomStringConvertible {
        let description: String
        init(_ description: String) { self.description = description }
    }
}
