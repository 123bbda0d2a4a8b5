import Foundation
import LauncherCore
import LauncherStageSupport

// The replies of the Terra services the stages read, as their APIs define them (Rawls'
// `SubmissionReport`, `Submission`, `MethodConfiguration`; TDR's `DatasetModel`,
// `SnapshotModel`, `JobModel`; BigQuery's `QueryResponse`). Only the members the launcher
// uses are declared; the rest of each reply is ignored.

// MARK: Firecloud and Rawls

/// A submission as Firecloud reports it after `POST …/submissions`, `GET …/submissions/{id}`
/// and `POST …/submissions/{id}/retry`; and one entry of `GET …/submissions`.
struct TerraSubmission: Decodable, Sendable {
    var submissionId: String?
    var status: String?
    var userComment: String?
    var workflows: [Workflow]?

    struct Workflow: Decodable, Sendable {
        var workflowId: String?
        var status: String?
        var entityName: String?
        var workflowEntity: Entity?
        var messages: [String]?

        /// The entity the workflow runs on; Rawls names it in either place.
        var entity: String? { workflowEntity?.entityName ?? entityName }
        var entityType: String? { workflowEntity?.entityType }
    }

    struct Entity: Decodable, Sendable {
        var entityType: String?
        var entityName: String?
    }
}

/// `GET …/submissions/{id}/workflows/{workflow}/outputs`: `{"tasks": {"wf": {"outputs": {"wf.out": v}}}}`.
struct TerraWorkflowOutputs: Decodable, Sendable {
    struct Task: Decodable, Sendable {
        var outputs: JSONObject?
    }

    var tasks: [String: Task]?

    /// `{"out": v}`: each output's task prefix removed; values exactly as Terra wrote them.
    var flattened: JSONObject {
        var result: JSONObject = [:]
        for (name, task) in tasks ?? [:] {
            for (key, value) in task.outputs ?? [:] {
                let short = key.hasPrefix("\(name).") ? String(key.dropFirst(name.count + 1)) : key
                result[short] = value
            }
        }
        return result
    }
}

/// A method configuration. The launcher writes a copy back with a few members changed, so the
/// whole document is kept alongside the members it reads.
struct TerraMethodConfiguration: Decodable, Sendable {
    var document: JSONObject
    var version: Int
    var rootEntityType: String?

    init(from decoder: any Decoder) throws {
        guard case .object(let document) = try JSONValue(from: decoder) else {
            throw DecodingError.typeMismatch(JSONObject.self, .init(codingPath: decoder.codingPath, debugDescription: "expected an object"))
        }
        self.document = document
        version = Int(document["methodConfigVersion"]?.intValue ?? 0)
        rootEntityType = document["rootEntityType"]?.stringValue
    }
}

/// One entity type of `GET …/entities`.
struct TerraEntityType: Decodable, Sendable {
    var attributeNames: [String]?
}

/// A workspace's reference to a data-repository snapshot.
struct TerraSnapshotReference: Decodable, Sendable {
    struct Metadata: Decodable, Sendable {
        var name: String?
    }

    var metadata: Metadata?
}

struct TerraSnapshotReferencePage: Decodable, Sendable {
    var gcpDataRepoSnapshots: [TerraSnapshotReference]?
}

// MARK: The Terra Data Repository

struct TDRDataset: Decodable, Sendable {
    struct Schema: Decodable, Sendable {
        var tables: [Table]?
    }

    struct Table: Decodable, Sendable {
        var name: String?
        var columns: [Column]?
    }

    struct Column: Decodable, Sendable {
        var name: String?
        var datatype: String?
    }

    struct Access: Decodable, Sendable {
        var bigQuery: BigQueryAccess?
    }

    struct BigQueryAccess: Decodable, Sendable {
        var projectId: String?
        var datasetName: String?
    }

    var name: String?
    var description: String?
    var defaultProfileId: String?
    var dataProject: String?
    var schema: Schema?
    var accessInformation: Access?
}

struct TDRSnapshot: Decodable, Sendable {
    struct Table: Decodable, Sendable {
        var name: String?
    }

    var id: String?
    var name: String?
    var tables: [Table]?
}

struct TDRSnapshotPage: Decodable, Sendable {
    var items: [TDRSnapshot]?
}

struct TDRJob: Decodable, Sendable {
    var id: String?
    var jobStatus: String?
    enum CodingKeys: String, CodingKey { case id, jobStatus = "job_status" }
}

/// A job's result: a created snapshot (`id`), an ingest (`bad_row_count`), or a failure
/// (`message`, `errorDetail`).
struct TDRJobResult: Decodable, Sendable {
    var id: String?
    var badRowCount: Int?
    var message: String?
    var errorDetail: [String]?
    enum CodingKeys: String, CodingKey { case id, badRowCount = "bad_row_count", message, errorDetail }
}

// MARK: BigQuery

/// `jobs.query` and `jobs.getQueryResults`.
struct BigQueryResponse: Decodable, Sendable {
    struct JobReference: Decodable, Sendable {
        var jobId: String?
        var location: String?
    }

    struct Row: Decodable, Sendable {
        var f: [Cell]?
    }

    struct Cell: Decodable, Sendable {
        var v: JSONValue?
    }

    var jobReference: JobReference?
    var jobComplete: Bool?
    var rows: [Row]?
    var pageToken: String?
}
