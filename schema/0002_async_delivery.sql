-- Deliveries a sink starts and finishes later (a data-repository ingest job): the sink's
-- handle for the job, and when it started. A workflow with a delivery under way is neither
-- offered to the sink again nor consumed until the sink says how it ended.
ALTER TABLE workflow ADD COLUMN delivery jsonb;
ALTER TABLE workflow ADD COLUMN delivery_started timestamptz;

CREATE INDEX workflow_delivering ON workflow (workload_id, id)
    WHERE status = 'Succeeded' AND consumed IS NULL AND delivery IS NOT NULL;
