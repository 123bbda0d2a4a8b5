import Metrics
import Prometheus

/// Bootstraps swift-metrics with a Prometheus registry and returns its text exposition.
public enum MetricsExport {
    public static func bootstrapPrometheus() -> @Sendable () -> String {
        let registry = PrometheusCollectorRegistry()
        MetricsSystem.bootstrap(PrometheusMetricsFactory(registry: registry))
        return {
            var buffer: [UInt8] = []
            registry.emit(into: &buffer)
            return String(decoding: buffer, as: UTF8.self)
        }
    }
}
