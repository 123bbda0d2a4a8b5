-- The dashboard's throughput chart sums the "workflows finished" events of the last hours:
-- this index finds them without reading a long-running workload's whole event log.
CREATE INDEX workload_event_kind_at ON workload_event (workload_id, kind, at);
