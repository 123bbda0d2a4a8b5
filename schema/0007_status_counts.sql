-- Counts of workflows by status (newest attempts only: retried_by IS NULL), kept exact by
-- statement-level triggers over the rows each statement inserted, changed or deleted. Every
-- statement that moves workflows (claims, launches, polls, aborts, retries, expansions) keeps
-- them right without knowing about them, and a read of a workload's counts is a few rows
-- whatever its size (it was a GROUP BY over all its workflows, 274 ms at a million).
--
-- The rows are deltas, only ever inserted by the triggers: a read sums them. An upsert of one
-- row per status would lock it until the statement's transaction ends, and two transactions
-- touching the same statuses in different orders (a retry's INSERT and UPDATE fire two
-- triggers) could deadlock, or a long retry could hold the update loop. Inserts take no such
-- lock. Compaction (see PostgresWorkloadQueues.recordSuccess) deletes a workload's rows and
-- inserts their sums in one statement: the rows it deleted are exactly the ones it sums, so
-- concurrent inserts and concurrent compactions leave the totals exact.
CREATE TABLE workload_status_count (
    workload_id bigint NOT NULL REFERENCES workload (id),
    status      text NOT NULL,
    count       bigint NOT NULL
);
CREATE INDEX workload_status_count_workload ON workload_status_count (workload_id);

CREATE FUNCTION workflow_status_count_delta() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO workload_status_count (workload_id, status, count)
        SELECT workload_id, status, count(*) FROM new_rows WHERE retried_by IS NULL GROUP BY 1, 2;
    ELSIF TG_OP = 'DELETE' THEN
        INSERT INTO workload_status_count (workload_id, status, count)
        SELECT workload_id, status, -count(*) FROM old_rows WHERE retried_by IS NULL GROUP BY 1, 2;
    ELSE
        INSERT INTO workload_status_count (workload_id, status, count)
        SELECT workload_id, status, sum(n) FROM (
            SELECT workload_id, status, 1 AS n FROM new_rows WHERE retried_by IS NULL
            UNION ALL
            SELECT workload_id, status, -1 FROM old_rows WHERE retried_by IS NULL) AS delta
        GROUP BY 1, 2 HAVING sum(n) <> 0;
    END IF;
    RETURN NULL;
END
$$;

-- PostgreSQL allows transition tables on single-event triggers only: one trigger per event.
CREATE TRIGGER workflow_status_count_insert AFTER INSERT ON workflow
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION workflow_status_count_delta();
CREATE TRIGGER workflow_status_count_update AFTER UPDATE ON workflow
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION workflow_status_count_delta();
CREATE TRIGGER workflow_status_count_delete AFTER DELETE ON workflow
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION workflow_status_count_delta();

-- The counts of the workflows already there, with writers kept out while they are taken (the
-- triggers above count what comes after).
LOCK TABLE workflow IN SHARE ROW EXCLUSIVE MODE;
INSERT INTO workload_status_count (workload_id, status, count)
SELECT workload_id, status, count(*) FROM workflow WHERE retried_by IS NULL GROUP BY 1, 2;
