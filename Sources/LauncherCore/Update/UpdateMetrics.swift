import Foundation
import Metrics

/// Counters the update loop emits through swift-metrics (exposed at `/metrics` by `wfl serve`).
enum UpdateMetrics {
    static func record(_ report: TickReport) {
        if report.launched > 0 { Counter(label: "wfl_workflows_launched_total").increment(by: report.launched) }
        for (status, count) in report.changed where status.isFinal && count > 0 {
            Counter(label: "wfl_workflows_finished_total", dimensions: [("status", status.rawValue)]).increment(by: count)
        }
        if report.delivered > 0 { Counter(label: "wfl_workflows_delivered_total").increment(by: report.delivered) }
        if report.setAside > 0 { Counter(label: "wfl_deliveries_set_aside_total").increment(by: report.setAside) }
        if report.deferred > 0 { Counter(label: "wfl_launches_deferred_total").increment(by: report.deferred) }
        if report.finished { Counter(label: "wfl_workloads_finished_total").increment() }
    }

    static func record(_ pass: PassReport) {
        Timer(label: "wfl_update_pass_duration_seconds").recordSeconds(pass.seconds)
        Counter(label: "wfl_update_passes_total").increment()
        Gauge(label: "wfl_update_last_pass_timestamp_seconds").record(Date().timeIntervalSince1970)
        if pass.failed > 0 { Counter(label: "wfl_workload_update_errors_total").increment(by: pass.failed) }
        Gauge(label: "wfl_workloads_due").record(pass.due)
    }
}
